"""Replay a workload against a model of vLLM's prefix cache on N replicas, routed by a real policy.

Each replica is modelled the way vLLM's block pool behaves: ``cache_blocks`` KV blocks; a finished request's
blocks return to a free queue in reverse order (its last blocks are evicted first, its prefix last); allocating
evicts from the queue's least recently used end; a hit takes a block out of the queue while in use, and a prompt
can hit at most ``prompt_len - 1`` tokens (the last token is always recomputed). Hits and queries are counted in
tokens, as ``vllm:prefix_cache_hits_total`` / ``vllm:prefix_cache_queries_total`` are.

Concurrency is a closed loop of ``concurrency`` clients: request *i* starts when request *i - concurrency*
finished, and a replica's load is what it has in flight, which is what the proxy's load bound sees.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from costroute_plugins.vllm_affinity.policy import Candidate, SelectionPolicy


@dataclass(frozen=True)
class SimRequest:
    hashes: tuple[int, ...]  # full prompt blocks, chained
    prompt_tokens: int
    output_tokens: int


@dataclass
class _InFlight:
    replica: int
    hashes: tuple[int, ...]
    hashed_after: int  # full blocks once generation ends (prompt + output)
    anonymous: int  # blocks held that carry no reusable hash


class ReplicaCache:
    """One worker's block pool."""

    def __init__(self, cache_blocks: int, block_size: int) -> None:
        self.capacity = cache_blocks
        self.block_size = block_size
        self.free_cached: OrderedDict[int, None] = OrderedDict()  # LRU first
        self.pinned: dict[int, int] = {}
        self.anonymous = 0
        self.queries = 0
        self.hits = 0
        self.requests = 0
        self._unique = itertools.count(-1, -1)

    def _free_slots(self) -> int:
        return self.capacity - len(self.pinned) - self.anonymous - len(self.free_cached)

    def _allocate(self, blocks: int) -> None:
        while self._free_slots() < blocks and self.free_cached:
            self.free_cached.popitem(last=False)

    def start(self, request: SimRequest, replica: int) -> _InFlight:
        self.requests += 1
        self.queries += request.prompt_tokens
        limit = max(0, (request.prompt_tokens - 1) // self.block_size)
        hit = 0
        for block in request.hashes[:limit]:
            if block in self.free_cached or block in self.pinned:
                hit += 1
            else:
                break
        self.hits += hit * self.block_size
        for block in request.hashes[:hit]:
            self.free_cached.pop(block, None)
            self.pinned[block] = self.pinned.get(block, 0) + 1
        total_tokens = request.prompt_tokens + request.output_tokens
        total_blocks = -(-total_tokens // self.block_size)
        fresh = request.hashes[hit:]
        anonymous = total_blocks - len(request.hashes)
        self._allocate(len(fresh) + anonymous)
        for block in fresh:
            self.free_cached.pop(block, None)
            self.pinned[block] = self.pinned.get(block, 0) + 1
        self.anonymous += anonymous
        return _InFlight(replica, request.hashes, total_tokens // self.block_size, anonymous)

    def finish(self, flight: _InFlight) -> None:
        self.anonymous -= flight.anonymous
        # Freed in reverse order: blocks filled during generation (unique, never hit again) go to the LRU end
        # first, the prompt's first block last, so shared prefixes outlive what follows them.
        for _ in range(flight.hashed_after - len(flight.hashes)):
            self._allocate(1)
            self.free_cached[next(self._unique)] = None
        for block in reversed(flight.hashes):
            count = self.pinned.get(block, 0) - 1
            if count <= 0:
                self.pinned.pop(block, None)
                self.free_cached[block] = None
                self.free_cached.move_to_end(block)
            else:
                self.pinned[block] = count


@dataclass
class SimResult:
    policy: str
    replicas: int
    requests: int
    hit_rate: float
    per_replica_requests: list[int]
    per_replica_hit_rate: list[float]
    max_over_mean_load: float
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "policy": self.policy, "replicas": self.replicas, "requests": self.requests,
            "hit_rate": round(self.hit_rate, 4), "max_over_mean_load": round(self.max_over_mean_load, 3),
            "per_replica_requests": self.per_replica_requests,
            "per_replica_hit_rate": [round(rate, 4) for rate in self.per_replica_hit_rate],
            "reasons": self.reasons,
        }


def simulate(requests: Iterable[SimRequest], policy: SelectionPolicy, replicas: int, cache_blocks: int,
             block_size: int, concurrency: int = 1, keys: Sequence[str] | None = None) -> SimResult:
    """``keys``: the replicas' addresses (their api_base), so the hash ring places prefixes exactly as the proxy
    in front of that pool does; default ``replica-0`` ... ``replica-N-1``."""
    caches = [ReplicaCache(cache_blocks, block_size) for _ in range(replicas)]
    keys = list(keys) if keys is not None else [f"replica-{i}" for i in range(replicas)]
    if len(keys) != replicas:
        raise ValueError(f"{len(keys)} replica keys for {replicas} replicas")
    inflight: deque[_InFlight] = deque()
    loads = [0] * replicas
    reasons: dict[str, int] = {}
    count = 0
    for request in requests:
        if len(inflight) >= concurrency:
            done = inflight.popleft()
            caches[done.replica].finish(done)
            loads[done.replica] -= 1
        choice = policy.choose(request.hashes, [Candidate(keys[i], loads[i]) for i in range(replicas)])
        reasons[choice.reason] = reasons.get(choice.reason, 0) + 1
        index = keys.index(choice.key)
        inflight.append(caches[index].start(request, index))
        loads[index] += 1
        count += 1
    while inflight:
        done = inflight.popleft()
        caches[done.replica].finish(done)
    queries = sum(c.queries for c in caches)
    per_replica = [c.requests for c in caches]
    mean = count / replicas if replicas else 0
    return SimResult(
        policy=policy.name, replicas=replicas, requests=count,
        hit_rate=sum(c.hits for c in caches) / queries if queries else 0.0,
        per_replica_requests=per_replica,
        per_replica_hit_rate=[c.hits / c.queries if c.queries else 0.0 for c in caches],
        max_over_mean_load=max(per_replica) / mean if mean else 0.0,
        reasons=reasons,
    )


def to_sim_requests(units: Sequence[Sequence], output_tokens: Sequence[int], block_size: int) -> list[SimRequest]:
    from costroute_plugins.vllm_affinity.blocks import block_hashes

    return [SimRequest(tuple(block_hashes(u, block_size)), len(u), out) for u, out in zip(units, output_tokens)]
