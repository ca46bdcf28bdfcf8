"""Budget counters in Redis, shared by every proxy replica, updated only by Lua scripts (atomic server-side).

Per counter (budget, subject, period) three keys: a hash ``spent``/``reserved`` (nano-USD), a sorted set of
reservation ids scored by the Redis-clock millisecond at which they lapse, and a hash of reservation amounts.
Every script first drops lapsed reservations, so a replica that crashed between reserve and settle holds the
budget for at most ``reservation_ttl_s``. The check of all caps and the reservation on all counters happen in
one script, which is why two replicas racing for the last dollar cannot both get it. A reservation id holds one
amount per counter: the script run again with the same id (redis-py retries a call that timed out, which may
have run) replaces it instead of adding up; ``BudgetGuard`` makes a fresh id for every check, so two checks are
never counted as one. Keys expire (``PEXPIREAT``) shortly after their period ends.

All keys of one request (every budget it counts against) are touched by one script, so they live under one hash
tag, ``<prefix>{counters}:``: on Redis Cluster the whole counter keyspace is one slot. It is small (three keys per
budget, subject and period) and each request costs two script calls on it, so one slot is the price of the
atomic check across budgets; a tenant's counters spread over slots could not be checked and reserved at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from costroute_plugins.budget.store import BudgetStore, Charge, ReserveOutcome, Usage
from costroute_plugins.redis_clients import AsyncClient, slot_prefix

_PURGE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function purge(k, z, a, now)
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, rid in ipairs(lapsed) do
    local amount = tonumber(redis.call('HGET', a, rid) or '0')
    redis.call('HINCRBY', k, 'reserved', -amount)
    redis.call('HDEL', a, rid)
  end
  if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
  return tonumber(redis.call('HGET', k, 'spent') or '0'), tonumber(redis.call('HGET', k, 'reserved') or '0')
end
"""

# KEYS: (counter, reservations zset, amounts hash) per charge. ARGV: id, ttl ms, then (amount, cap|-1, expire ms).
_RESERVE = _PURGE + """
local now = now_ms()
local rid, ttl = ARGV[1], tonumber(ARGV[2])
local n = #KEYS / 3
local result = {-1}
for i = 1, n do
  local spent, reserved = purge(KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i], now)
  result[2*i], result[2*i+1] = spent, reserved
  local cap = tonumber(ARGV[3*i+1])
  if result[1] < 0 and cap >= 0 and spent + reserved >= cap then result[1] = i - 1 end
end
if result[1] >= 0 then return result end
for i = 1, n do
  local k, z, a = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local amount, expire = ARGV[3*i], ARGV[3*i+2]
  local previous = redis.call('HGET', a, rid)  -- the same id reserved twice replaces, never adds up
  if previous then redis.call('HINCRBY', k, 'reserved', -tonumber(previous)) end
  redis.call('HINCRBY', k, 'reserved', amount)
  redis.call('HSET', a, rid, amount)
  redis.call('ZADD', z, now + ttl, rid)
  redis.call('PEXPIREAT', k, expire)
  redis.call('PEXPIREAT', z, expire)
  redis.call('PEXPIREAT', a, expire)
end
return result
"""

# KEYS: triples as above. ARGV: id, actual amount, then one expire ms per triple.
_SETTLE = _PURGE + """
local now = now_ms()
local rid, actual = ARGV[1], ARGV[2]
for i = 1, #KEYS / 3 do
  local k, z, a = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  purge(k, z, a, now)
  local held = redis.call('HGET', a, rid)
  if held then
    redis.call('HINCRBY', k, 'reserved', -tonumber(held))
    redis.call('HDEL', a, rid)
    redis.call('ZREM', z, rid)
  end
  redis.call('HINCRBY', k, 'spent', actual)
  for _, key in ipairs({k, z, a}) do redis.call('PEXPIREAT', key, ARGV[2 + i]) end
end
return 1
"""

_USAGE = _PURGE + """
local now = now_ms()
local result = {}
for i = 1, #KEYS / 3 do
  local spent, reserved = purge(KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i], now)
  result[2*i-1], result[2*i] = spent, reserved
end
return result
"""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisBudgetStore(BudgetStore):
    """Raises redis errors to the caller: ``BudgetGuard`` turns them into a fail-open decision."""

    def __init__(self, client: AsyncClient, prefix: str = "costroute:budget:") -> None:
        self._client = client
        self._prefix = slot_prefix(prefix, "counters")
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._usage = client.register_script(_USAGE)

    def _keys(self, keys: Sequence[str]) -> list[str]:
        return [f"{self._prefix}{key}{suffix}" for key in keys for suffix in (":c", ":r", ":a")]

    async def reserve(self, reservation_id: str, charges: Sequence[Charge], ttl_s: float) -> ReserveOutcome:
        args: list[int | str] = [reservation_id, _ms(ttl_s)]
        for charge in charges:
            args += [charge.amount, -1 if charge.cap is None else charge.cap, _ms(charge.expires_at)]
        result = await self._reserve(keys=self._keys([charge.key for charge in charges]), args=args)
        refused = int(result[0])
        usage = tuple(Usage(int(result[i]), int(result[i + 1])) for i in range(1, len(result), 2))
        return ReserveOutcome(None if refused < 0 else refused, usage)

    async def settle(self, reservation_id: str, keys: Sequence[str], actual: int, expires_at: Sequence[float]) -> None:
        await self._settle(keys=self._keys(keys), args=[reservation_id, actual, *(_ms(e) for e in expires_at)])

    async def close(self) -> None:
        await self._client.aclose()

    async def usage(self, keys: Sequence[str]) -> tuple[Usage, ...]:
        result = await self._usage(keys=self._keys(keys))
        return tuple(Usage(int(result[i]), int(result[i + 1])) for i in range(0, len(result), 2))
