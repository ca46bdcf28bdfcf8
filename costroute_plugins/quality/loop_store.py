"""Where the quality loop's state lives: in this process, or in Redis so every replica shares one loop.

The state is the current shift with a version that counts its changes, the evidence window of that version
(sums, so replicas add into it with ``HINCRBYFLOAT``) and the last changes with their evidence. A change is a
compare-and-set on the version: when two replicas reach the same conclusion at once, one moves the shift and
the other's evidence window is simply gone, so the loop never moves twice on the same evidence. On Redis the
state outlives a restart of every replica. Its keys share one hash tag (``<prefix>{loop}:``): a change touches
three of them in one script, which Redis Cluster allows only within one slot (a few small keys, read every few
seconds per replica).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from costroute_plugins.quality.controller import Change, LoopWindow
from costroute_plugins.redis_clients import AsyncClient, slot_prefix

#: Changes kept in the history (``/costroute/quality``, logs keep every one).
HISTORY = 100
#: An old version's evidence window is dropped this long after the shift moved on.
WINDOW_TTL_S = 86_400


@dataclass(frozen=True)
class LoopState:
    shift: float = 0.0
    version: int = 0


class LoopStore(ABC):
    @abstractmethod
    async def state(self) -> LoopState:
        """The current shift and its version."""

    @abstractmethod
    async def add(self, version: int, evidence: LoopWindow) -> LoopWindow:
        """Add ``evidence`` to version ``version``'s window and return the window (everyone's evidence)."""

    @abstractmethod
    async def apply(self, version: int, change: Change) -> bool:
        """Move to ``change.new_shift`` if the version is still ``version``; False when another replica moved."""

    @abstractmethod
    async def history(self) -> list[dict[str, Any]]:
        """The last changes, newest first."""


class InMemoryLoopStore(LoopStore):
    """One process's loop: a proxy without Redis, and tests."""

    def __init__(self) -> None:
        self._state = LoopState()
        self._windows: dict[int, LoopWindow] = {}
        self._history: list[dict[str, Any]] = []

    async def state(self) -> LoopState:
        return self._state

    async def add(self, version: int, evidence: LoopWindow) -> LoopWindow:
        window = self._windows.setdefault(version, LoopWindow())
        window.add(evidence)
        return LoopWindow.from_flat(window.flat())

    async def apply(self, version: int, change: Change) -> bool:
        if self._state.version != version:
            return False
        self._state = LoopState(change.new_shift, version + 1)
        self._windows.pop(version, None)
        self._history = [change.to_json(), *self._history][:HISTORY]
        return True

    async def history(self) -> list[dict[str, Any]]:
        return list(self._history)


# KEYS: a version's window. ARGV: its expiry in seconds, then (field, amount) pairs. Returns the whole window.
_ADD = """
for i = 2, #ARGV, 2 do redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: state hash, old window, history list. ARGV: expected version, new shift, change JSON, history size.
_APPLY = """
local version = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if version ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'shift', ARGV[2], 'version', version + 1)
redis.call('DEL', KEYS[2])
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return 1
"""


class RedisLoopStore(LoopStore):
    """The loop shared by every replica on one Redis; each call is one round trip."""

    def __init__(self, client: AsyncClient, prefix: str) -> None:
        self.client = client
        self.prefix = slot_prefix(prefix, "loop")
        self._add = client.register_script(_ADD)
        self._apply = client.register_script(_APPLY)

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def state(self) -> LoopState:
        raw = await self.client.hgetall(self._key("state"))
        data = {key.decode() if isinstance(key, bytes) else key: value for key, value in raw.items()}
        return LoopState(float(data.get("shift", 0.0)), int(data.get("version", 0)))

    async def add(self, version: int, evidence: LoopWindow) -> LoopWindow:
        """One script: the window read back holds this replica's evidence and never half of another's."""
        args: list[str | float] = [WINDOW_TTL_S]
        for name, value in evidence.flat().items():
            if value:
                args += [name, value]
        raw = await self._add(keys=[self._key(f"window:{version}")], args=args)
        flat = dict(zip(raw[::2], raw[1::2], strict=True))  # HGETALL's reply inside a script: a flat list
        return LoopWindow.from_flat({(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in flat.items()})

    async def apply(self, version: int, change: Change) -> bool:
        moved = await self._apply(keys=[self._key("state"), self._key(f"window:{version}"), self._key("changes")],
                                  args=[version, repr(change.new_shift), json.dumps(change.to_json()), HISTORY])
        return bool(moved)

    async def history(self) -> list[dict[str, Any]]:
        return [json.loads(item) for item in await self.client.lrange(self._key("changes"), 0, HISTORY - 1)]
