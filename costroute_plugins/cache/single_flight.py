"""Single-flight: identical requests in flight at the same time share one upstream call.

A cache only answers a repeat once the first answer is stored, so repeats that arrive while the first ask is still
upstream all miss and all pay (11-21 of 377 exact repeats in a replay at 8 concurrent requests; most of a thundering
herd on one popular prompt). Here the first request of a key becomes its *leader*; the others *follow*: they wait
until the leader ends (its answer stored, refused, failed) or a deadline passes, then look the cache up again.

Why followers look up again instead of taking the leader's answer from here: the cache's own lookup decides what
may be served (admission, TTL, scope, verification), so a follower is served exactly what any later repeat would be,
and when the leader's answer was not stored it simply goes upstream on its own. Single-flight can delay a request
(at most ``wait_s``), never change or fail its answer.

The key is the cache scope (tenant, model group, parameters, earlier turns) plus the exact tier's form of the
prompt, so only requests the exact tier would serve each other's answer share a flight: another tenant never waits
for, or is served, a tenant's answer.

In-process and per event loop (one proxy replica); bounded: when ``max_flights`` keys are in flight, further keys
run without single-flight rather than grow the table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import Enum

from costroute_plugins.cache.scope import CacheableRequest
from costroute_plugins.cache.text import text_hash

# Keys in flight at once before new keys go without single-flight: a flight is a future and two small dict entries,
# so this bounds memory to a few MB whatever the traffic, and is far above the concurrency of one replica.
MAX_FLIGHTS = 10_000


class Ending(str, Enum):
    """How a flight ended, as its followers learn it."""

    STORED = "stored"  # the leader's answer was stored: a lookup now finds it
    HIT = "hit"  # the leader's own lookup hit: it never went upstream
    NOT_STORED = "not_stored"  # answered, but the answer was not admitted (PII, TTL 0, error, ...) or not stored
    FAILED = "failed"  # the leader's call (or its lookup) failed
    TIMEOUT = "timeout"  # the follower stopped waiting at the flight's deadline


def flight_key(request: CacheableRequest) -> str:
    """The cache scope's key plus the exact tier's hash of the prompt: what the exact tier serves from one entry."""
    return f"{request.scope.key}:{text_hash(request.text)}"


@dataclass
class _Flight:
    owner: Hashable
    deadline: float
    ended: asyncio.Future[Ending]


@dataclass(frozen=True)
class Lead:
    """The caller leads ``key``: it goes upstream, and must end the flight (``SingleFlight.end``)."""

    key: str


@dataclass(frozen=True)
class Follow:
    """The caller follows the flight of ``key``; ``wait()`` returns how it ended (``TIMEOUT`` at its deadline)."""

    key: str
    _ended: asyncio.Future[Ending]
    _deadline: float
    _clock: Callable[[], float] = field(repr=False)

    async def wait(self) -> Ending:
        # shield: a follower that gives up (timeout, its client gone) must not cancel the others' future
        try:
            return await asyncio.wait_for(asyncio.shield(self._ended), max(0.0, self._deadline - self._clock()))
        except TimeoutError:
            return Ending.TIMEOUT


class SingleFlight:
    """The registry of keys in flight: ``join`` makes the caller a leader or a follower, ``end`` releases followers.

    ``owner`` identifies the request (the same request may join again, for a retry, and stays the leader). Not
    thread-safe: use it from one event loop."""

    def __init__(self, wait_s: float, max_flights: int = MAX_FLIGHTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if wait_s <= 0:
            raise ValueError("wait_s must be > 0 (0 turns single-flight off: do not build one)")
        self.wait_s = wait_s
        self.max_flights = max_flights
        self.clock = clock
        self._flights: dict[str, _Flight] = {}
        self._led: dict[Hashable, set[str]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str, owner: Hashable, *, may_lead: bool = True) -> Lead | Follow | None:
        """Lead ``key`` when nobody does (or ``owner`` already does), else follow its leader; None when the caller
        neither leads nor follows: it may not lead (e.g. ``no-store``: its answer would not be stored) and nobody
        flies, or the table is full."""
        now = self.clock()
        flight = self._flights.get(key)
        loop = asyncio.get_running_loop()
        if flight is not None and (flight.deadline <= now or flight.ended.get_loop() is not loop):
            # its leader is stuck or gone (or ran on another event loop, now closed): nobody waits for it again
            self._end(key, Ending.TIMEOUT)
            flight = None
        if flight is not None:
            if flight.owner == owner:
                return Lead(key)
            return Follow(key, flight.ended, flight.deadline, self.clock)
        if not may_lead:
            return None
        if len(self._flights) >= self.max_flights:
            self._expire(now)
            if len(self._flights) >= self.max_flights:
                return None
        ended: asyncio.Future[Ending] = loop.create_future()
        self._flights[key] = _Flight(owner, now + self.wait_s, ended)
        self._led.setdefault(owner, set()).add(key)
        return Lead(key)

    def end(self, owner: Hashable, ending: Ending, key: str | None = None) -> int:
        """``owner``'s flight of ``key`` (every flight it leads when None) ended: its followers are released.
        Returns the number of flights ended; ending what one does not lead (anymore) is a no-op."""
        keys = self._led.get(owner, set()) if key is None else ({key} & self._led.get(owner, set()))
        for each in list(keys):
            self._end(each, ending)
        return len(keys)

    def end_later(self, owner: Hashable, ending: Ending, delay_s: float) -> None:
        """End ``owner``'s flights after ``delay_s`` unless they end before (a store still on its way may land)."""
        if owner in self._led:
            asyncio.get_running_loop().call_later(delay_s, self.end, owner, ending)

    def _end(self, key: str, ending: Ending) -> None:
        flight = self._flights.pop(key, None)
        if flight is None:
            return
        led = self._led.get(flight.owner)
        if led is not None:
            led.discard(key)
            if not led:
                del self._led[flight.owner]
        if not flight.ended.done():
            try:
                flight.ended.set_result(ending)
            except RuntimeError:  # its event loop is closed: nobody is left to wake
                pass

    def _expire(self, now: float) -> None:
        for key in [key for key, flight in self._flights.items() if flight.deadline <= now]:
            self._end(key, Ending.TIMEOUT)
