"""Replica selection policies: one small abstract class, one method, swappable in proxy and simulator alike.

The proxy adapter and ``costroute simulate-affinity`` both call ``choose`` with the prompt's block hashes and
the usable replicas' loads, so what the simulator projects is what the proxy does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from costroute_plugins.vllm_affinity.prefix_index import PrefixIndex
from costroute_plugins.vllm_affinity.ring import HashRing


@dataclass(frozen=True)
class Candidate:
    """A replica the request may go to, with how busy it is now."""

    key: str
    load: float
    cache_full: bool = False  # KV cache (nearly) full: sending more there preempts running requests


@dataclass(frozen=True)
class Choice:
    key: str
    reason: str  # only | cache | ring | balance | spill | least-loaded | short-prompt | round-robin
    matched_blocks: int = 0


class NoReplicaError(RuntimeError):
    """No candidate at all; the caller lets LiteLLM's own selection (and error) happen."""


class SelectionPolicy(ABC):
    name: str

    @abstractmethod
    def choose(self, hashes: Sequence[int], candidates: Sequence[Candidate]) -> Choice:
        """Pick one of ``candidates`` (never empty) for a prompt whose full blocks hash to ``hashes``."""

    def forget(self, key: str) -> None:
        """The replica's prefix cache is gone (restart or outage). Stateless policies ignore it."""


class RoundRobinPolicy(SelectionPolicy):
    """The baseline: replicas in turn, blind to prefixes (what a plain load balancer does)."""

    name = "round-robin"

    def __init__(self) -> None:
        self._turn = 0

    def choose(self, hashes: Sequence[int], candidates: Sequence[Candidate]) -> Choice:
        if not candidates:
            raise NoReplicaError("no replica to choose from")
        ordered = sorted(candidates, key=lambda c: c.key)
        self._turn += 1
        return Choice(ordered[(self._turn - 1) % len(ordered)].key, "round-robin")


def least_loaded(candidates: Sequence[Candidate], tie_order: Sequence[str] = ()) -> Candidate:
    """Fewest requests, avoiding full KV caches; ties follow ``tie_order`` then address."""
    rank = {key: i for i, key in enumerate(tie_order)}
    return min(candidates, key=lambda c: (c.cache_full, c.load, rank.get(c.key, len(rank)), c.key))


class PrefixAffinityPolicy(SelectionPolicy):
    """Longest cached prefix first; a new prefix to the less-used of its two ring replicas; bounded load throughout.

    A replica may take the request only if its load stays within ``load_factor`` x the mean (counting this
    request) - consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018) - or within
    ``load_slack`` requests of the least loaded replica: at low load, 2 requests against 1 is no reason to move a
    prefix to a replica that must prefill it again and evict others for it. So a hot prefix spills to the next
    replica on its ring instead of queueing, and uneven load falls back to the least loaded.
    """

    name = "affinity"

    def __init__(self, load_factor: float = 1.25, key_blocks: int = 1, index_blocks: int = 200_000,
                 vnodes: int = 100, max_homes: int = 10_000, load_slack: int = 4) -> None:
        if load_factor < 1.0:
            raise ValueError("load_factor must be >= 1.0 (1.0 = perfectly even, no room for affinity)")
        if key_blocks < 1:
            raise ValueError("key_blocks must be >= 1")
        self.load_factor = load_factor
        self.load_slack = load_slack
        self.key_blocks = key_blocks
        self.vnodes = vnodes
        self.index = PrefixIndex(index_blocks)
        self._known: set[str] = set()
        self._ring = HashRing((), vnodes)
        self._short_turn = 0
        self._homes: OrderedDict[int, str] = OrderedDict()  # first block of each recent new prefix -> replica
        self.max_homes = max_homes

    def _ring_order(self, keys: Sequence[str], hashes: Sequence[int]) -> list[str]:
        # The ring spans every replica ever seen, so a replica's outage moves only its own prefixes.
        if not self._known.issuperset(keys):
            self._known.update(keys)
            self._ring = HashRing(self._known, self.vnodes)
        present = set(keys)
        return [key for key in self._ring.order(hashes[min(self.key_blocks, len(hashes)) - 1]) if key in present]

    def choose(self, hashes: Sequence[int], candidates: Sequence[Candidate]) -> Choice:
        if not candidates:
            raise NoReplicaError("no replica to choose from")
        if len(candidates) == 1:
            chosen = Choice(candidates[0].key, "only")
        elif not hashes:
            # Shorter than one block: nothing can be reused, so spread by load (ties in turn).
            self._short_turn += 1
            keys = sorted(c.key for c in candidates)
            turn = keys[self._short_turn % len(keys):] + keys[:self._short_turn % len(keys)]
            chosen = Choice(least_loaded(candidates, turn).key, "short-prompt")
        else:
            chosen = self._choose_with_prefix(hashes, candidates)
        self.index.record(hashes, chosen.key)
        return chosen

    def _choose_with_prefix(self, hashes: Sequence[int], candidates: Sequence[Candidate]) -> Choice:
        by_key = {c.key: c for c in candidates}
        order = self._ring_order(list(by_key), hashes)
        depth = self.index.matched_blocks(hashes, by_key)
        best_depth = max(depth.values())
        load_cap = self._cap([c.load for c in candidates])
        fits = {key: by_key[key].load + 1 <= load_cap and not by_key[key].cache_full for key in order}
        if best_depth > 0:
            # Follow the cache: deepest match first (ring order among equals), within the load bound.
            for key in sorted(order, key=lambda k: -depth[k]):
                if fits[key]:
                    return Choice(key, "cache" if depth[key] == best_depth else "spill", depth[key])
        else:
            # A new prefix claims cache space for all its followers. Of its first two replicas on the ring that
            # are within the load bound, it goes to the one homing fewer prefixes ("two choices"): cache
            # footprints stay even, and every proxy still agrees on the two candidates.
            allowed = [key for key in order if fits[key]][:2]
            if allowed:
                homes = Counter(self._homes.values())
                chosen = min(allowed, key=lambda key: (homes[key], allowed.index(key)))
                self._homes[hashes[0]] = chosen
                self._homes.move_to_end(hashes[0])
                while len(self._homes) > self.max_homes:
                    self._homes.popitem(last=False)
                return Choice(chosen, "ring" if chosen == order[0] else "balance", 0)
        fallback = least_loaded(candidates, order)
        return Choice(fallback.key, "least-loaded", depth[fallback.key])

    def _cap(self, loads: Sequence[float]) -> float:
        """Bounded load: at most ``load_factor`` x the mean once this request is counted, or ``load_slack`` more
        than the least loaded replica, whichever is higher."""
        return max(math.ceil(self.load_factor * (sum(loads) + 1) / len(loads)), min(loads) + 1 + self.load_slack)

    def forget(self, key: str) -> None:
        self.index.forget(key)
        for block in [block for block, home in self._homes.items() if home == key]:
            del self._homes[block]


def make_policy(name: str, load_factor: float = 1.25, key_blocks: int = 1, load_slack: int = 4) -> SelectionPolicy:
    if name == "round-robin":
        return RoundRobinPolicy()
    if name == "affinity":
        return PrefixAffinityPolicy(load_factor=load_factor, key_blocks=key_blocks, load_slack=load_slack)
    raise ValueError(f"unknown policy {name!r}; use 'affinity' or 'round-robin'")
