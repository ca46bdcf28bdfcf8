"""What the proxy knows about each vLLM replica: load and cache counters from its /metrics, and its own
requests in flight there, with a staleness limit so a silent worker's last figures are not trusted forever."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["unknown", "fresh", "stale", "down"]

# vLLM metric names (v1 engine); several engines or label sets are summed.
RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:cpu_cache_usage_perc")
PREFIX_QUERIES = ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_queries")
PREFIX_HITS = ("vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits")


class MetricsFormatError(ValueError):
    """The body is not a vLLM Prometheus exposition (wrong endpoint, proxy error page...)."""


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum of each sample name over its label sets; comments and malformed lines are skipped."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        try:
            value = float(line.rsplit(" ", 1)[-1])
        except ValueError:
            continue
        if math.isfinite(value):
            totals[name] = totals.get(name, 0.0) + value
    return totals


def _first(samples: dict[str, float], names: tuple[str, ...]) -> float | None:
    return next((samples[name] for name in names if name in samples), None)


@dataclass(frozen=True)
class WorkerSample:
    """One successful read of a worker's /metrics."""

    running: float
    waiting: float
    kv_usage: float | None
    prefix_queries: float | None
    prefix_hits: float | None

    @classmethod
    def from_text(cls, text: str) -> WorkerSample:
        samples = parse_prometheus(text)
        if RUNNING not in samples and WAITING not in samples:
            raise MetricsFormatError(f"no {RUNNING} / {WAITING} series: is this a vLLM /metrics endpoint?")
        return cls(
            running=samples.get(RUNNING, 0.0),
            waiting=samples.get(WAITING, 0.0),
            kv_usage=_first(samples, KV_USAGE),
            prefix_queries=_first(samples, PREFIX_QUERIES),
            prefix_hits=_first(samples, PREFIX_HITS),
        )


@dataclass
class Replica:
    key: str  # the worker's address: the same in every proxy replica, so rings agree
    deployment_id: str
    metrics_url: str
    sample: WorkerSample | None = None
    sampled_at: float | None = None
    down_since: float | None = None
    failures: int = 0
    last_error: str = ""
    inflight: int = 0
    inflight_at_sample: int = 0  # this proxy's share of what the last sample counted

    def status(self, now: float, staleness_s: float) -> Status:
        if self.down_since is not None:
            return "down"
        if self.sampled_at is None:
            return "stale" if self.failures else "unknown"
        return "fresh" if now - self.sampled_at <= staleness_s else "stale"

    def load(self, now: float, staleness_s: float) -> float:
        """Requests this replica is busy with: what this proxy has in flight there now (exact, fresher than any
        poll), plus what the last fresh sample counted beyond this proxy's own requests at that moment (other
        proxy replicas' traffic). Counting the sample's running+waiting directly would count this proxy's
        requests that finished since the poll, and spill prefixes for nothing."""
        others = 0.0
        if self.sample is not None and self.status(now, staleness_s) == "fresh":
            others = max(0.0, self.sample.running + self.sample.waiting - self.inflight_at_sample)
        return self.inflight + others


@dataclass
class ReplicaBook:
    """Replicas of one model group, keyed by address. ``observe_*`` return True when the replica's prefix cache
    must be assumed empty (it restarted or came back from down), so the caller forgets what it sent there."""

    staleness_s: float = 10.0
    replicas: dict[str, Replica] = field(default_factory=dict)
    _calls: OrderedDict[str, str] = field(default_factory=OrderedDict)
    max_open_calls: int = 100_000

    def ensure(self, key: str, deployment_id: str, metrics_url: str) -> Replica:
        replica = self.replicas.get(key)
        if replica is None:
            replica = self.replicas[key] = Replica(key, deployment_id, metrics_url)
        return replica

    def observe_sample(self, key: str, sample: WorkerSample, now: float) -> bool:
        replica = self.replicas[key]
        previous = replica.sample
        came_back = replica.down_since is not None
        restarted = (previous is not None and previous.prefix_queries is not None
                     and sample.prefix_queries is not None and sample.prefix_queries < previous.prefix_queries)
        replica.sample, replica.sampled_at, replica.inflight_at_sample = sample, now, replica.inflight
        replica.down_since, replica.failures, replica.last_error = None, 0, ""
        return came_back or restarted

    def observe_failure(self, key: str, error: str, refused: bool, now: float) -> None:
        """A failed poll. ``refused``: nothing listens (worker down) -> skipped at once; otherwise (slow, 5xx,
        garbage) its figures just age until the staleness limit."""
        replica = self.replicas[key]
        replica.failures += 1
        replica.last_error = error
        if refused and replica.down_since is None:
            replica.down_since = now

    def mark_down(self, key: str, error: str, now: float) -> None:
        """A request to the replica failed to connect: skip it until a poll succeeds again."""
        replica = self.replicas.get(key)
        if replica is not None and replica.down_since is None:
            replica.down_since, replica.last_error = now, error

    def acquire(self, call_id: str, key: str) -> None:
        """This proxy sent request ``call_id`` to ``key`` (a retry moves it)."""
        self.release(call_id)
        if key in self.replicas:
            self._calls[call_id] = key
            self.replicas[key].inflight += 1
            while len(self._calls) > self.max_open_calls:  # lost completions must not inflate load forever
                self.release(next(iter(self._calls)))

    def release(self, call_id: str) -> None:
        key = self._calls.pop(call_id, None)
        if key is not None and key in self.replicas:
            self.replicas[key].inflight = max(0, self.replicas[key].inflight - 1)
