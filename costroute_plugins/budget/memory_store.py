"""Budget counters inside one process: for a single replica, or when no Redis is configured, and for tests.

Two proxy replicas with this store each enforce the cap on their own share only; use ``RedisBudgetStore``
for anything with more than one replica.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from costroute_plugins.budget.store import BudgetStore, Charge, ReserveOutcome, Usage


@dataclass
class _Counter:
    spent: int = 0
    reservations: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (amount, lapses at)
    expires_at: float = float("inf")

    def usage(self, now: float) -> Usage:
        for rid in [rid for rid, (_, lapses) in self.reservations.items() if lapses <= now]:
            del self.reservations[rid]
        return Usage(self.spent, sum(amount for amount, _ in self.reservations.values()))


class InMemoryBudgetStore(BudgetStore):
    """Same semantics as the Redis store; atomic because no ``await`` happens inside an operation."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counters: dict[str, _Counter] = {}

    def _counter(self, key: str, now: float) -> _Counter:
        counter = self._counters.get(key)
        if counter is None or counter.expires_at <= now:
            counter = self._counters[key] = _Counter()
        return counter

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, counter in self._counters.items() if counter.expires_at <= now]:
            del self._counters[key]

    async def reserve(self, reservation_id: str, charges: Sequence[Charge], ttl_s: float) -> ReserveOutcome:
        now = self._clock()
        self._drop_expired(now)
        counters = [self._counter(charge.key, now) for charge in charges]
        usage = tuple(counter.usage(now) for counter in counters)
        for index, (charge, before) in enumerate(zip(charges, usage)):
            if charge.cap is not None and before.committed >= charge.cap:
                return ReserveOutcome(index, usage)
        for charge, counter in zip(charges, counters):
            counter.reservations[reservation_id] = (charge.amount, now + ttl_s)
            counter.expires_at = charge.expires_at
        return ReserveOutcome(None, usage)

    async def settle(self, reservation_id: str, keys: Sequence[str], actual: int, expires_at: Sequence[float]) -> None:
        now = self._clock()
        for key, expiry in zip(keys, expires_at):
            counter = self._counter(key, now)
            counter.reservations.pop(reservation_id, None)
            counter.spent += actual
            counter.expires_at = expiry

    async def usage(self, keys: Sequence[str]) -> tuple[Usage, ...]:
        now = self._clock()
        self._drop_expired(now)
        empty = _Counter()
        return tuple(self._counters.get(key, empty).usage(now) for key in keys)
