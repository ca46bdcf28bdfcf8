"""One affinity-routed model group: its replicas' state, its policy and tokenizer, and the selection rules that
sit around the policy (who is usable, what a retry must avoid)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from costroute_plugins.vllm_affinity.blocks import PrefixTokenizer, block_hashes
from costroute_plugins.vllm_affinity.policy import Candidate, Choice, SelectionPolicy
from costroute_plugins.vllm_affinity.replicas import Replica, ReplicaBook


@dataclass(frozen=True)
class Target:
    """A deployment as the selection sees it: LiteLLM's id and the worker address."""

    deployment_id: str
    api_base: str


def metrics_url(api_base: str, metrics_path: str = "/metrics") -> str:
    """vLLM serves OpenAI routes under /v1 and Prometheus at the root: strip /v1 and append the path."""
    base = api_base.rstrip("/")
    base = base.removesuffix("/v1")
    return base + metrics_path


@dataclass(frozen=True)
class Selection:
    target: Target
    choice: Choice
    skipped: tuple[str, ...]  # replicas left out (down, stale, tried before), for logs


class AffinityGroup:
    def __init__(self, name: str, policy: SelectionPolicy, tokenizer: PrefixTokenizer, block_size: int,
                 book: ReplicaBook, metrics_path: str = "/metrics", cache_full_at: float = 0.95,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self.tokenizer = tokenizer
        self.block_size = block_size
        self.book = book
        self.metrics_path = metrics_path
        self.cache_full_at = cache_full_at
        self.clock = clock

    def hashes(self, messages: Sequence[Mapping[str, Any]] | None) -> list[int]:
        return block_hashes(self.tokenizer.units(messages or []), self.block_size)

    def _usable(self, replicas: list[Replica], now: float) -> list[Replica]:
        """Every replica not known to be down. A stale one (slow or failing /metrics) keeps its prefixes: a busy
        worker answers /metrics late but still serves, and moving its prefixes away would cost their cache; only
        its load figures are ignored. If every replica looks down, all are tried (LiteLLM retries)."""
        up = [r for r in replicas if r.status(now, self.book.staleness_s) != "down"]
        return up or replicas

    def usable_keys(self) -> list[str]:
        """Replicas new requests may go to right now."""
        return [r.key for r in self._usable(list(self.book.replicas.values()), self.clock())]

    def select(self, targets: Sequence[Target], messages: Sequence[Mapping[str, Any]] | None,
               call_id: str | None = None, tried: Sequence[str] = ()) -> Selection:
        """The one target to send this request to. ``tried``: deployment ids that already failed this call."""
        now = self.clock()
        by_key: dict[str, Target] = {}
        for target in targets:
            self.book.ensure(target.api_base, target.deployment_id, metrics_url(target.api_base, self.metrics_path))
            by_key[target.api_base] = target
        replicas = [self.book.replicas[key] for key in by_key]
        fresh_tries = [r for r in replicas if r.deployment_id not in tried]
        usable = self._usable(fresh_tries or replicas, now)
        candidates = [
            Candidate(r.key, r.load(now, self.book.staleness_s),
                      cache_full=bool(r.sample and r.sample.kv_usage is not None
                                      and r.sample.kv_usage >= self.cache_full_at))
            for r in usable
        ]
        choice = self.policy.choose(self.hashes(messages), candidates)
        if call_id:
            self.book.acquire(call_id, choice.key)
        skipped = tuple(sorted(set(by_key) - {r.key for r in usable}))
        return Selection(by_key[choice.key], choice, skipped)

    def release(self, call_id: str) -> None:
        self.book.release(call_id)

    def replica_down(self, api_base: str, error: str) -> None:
        """A request could not reach the worker: skip it now rather than at the next poll."""
        self.book.mark_down(api_base, error, self.clock())
