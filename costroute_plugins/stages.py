"""costroute's own time per request, by stage, and the decision path each request took.

What costroute adds to a request's latency is spread over hooks LiteLLM calls at different moments, so no single
timer sees it; and which branch a request took (a cache hit, the router's tier, a fallback) decides what it cost.
Both are Prometheus series here, with fixed label values, so a dashboard, an alert and a benchmark read the same
figures and no request can add a series:

- ``costroute_stage_seconds{stage}``: a histogram (0.1 ms to 2 s) per ``Stage``. Stages may nest: a wait for
  the prompt's ``embedding`` happens inside ``classification`` or ``cache_lookup``, and ``cache_verify`` is part
  of ``cache_lookup``.
- ``costroute_decision_path_total{path}``: one count per decision point a request reaches (budget check, tier
  choice, cache lookup), its ``DecisionPath`` value prefixed with the point, so ``path=~"route_.*"`` sums to the
  requests whose tier costroute chose or recorded.

``StageMetrics.timed`` is the one way a call site times a stage; ``stage_times`` reads the histogram back from a
``/metrics`` scrape, for benchmarks that report per-stage time of a real proxy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

Stage = Literal[
    "budget_reservation",  # the budget check: estimate the worst-case cost, reserve it (Redis or in process)
    "classification",  # the router's whole decision for a ``model: auto`` request, as LiteLLM waits for it
    "embedding",  # a wait for the prompt's embedding that was not computed yet (memoised ones are not waits)
    "cache_lookup",  # the semantic cache's lookup: exact tier, vector search, verification
    "cache_verify",  # the verifier's checks of a lookup's candidates (only lookups that had candidates)
    "cache_store",  # storing the answer after it was sent (admission, insert)
    "ledger_write",  # handing the request's ledger row over: a file append, or a queue put for PostgreSQL
]
STAGES: tuple[Stage, ...] = get_args(Stage)

DecisionPath = Literal[
    # budget check (only when budgets are configured)
    "budget_under",  # under every soft limit (or exempt)
    "budget_soft",  # past a soft limit: the router's thresholds relax, more auto traffic goes to cheaper tiers
    "budget_downgrade",  # at a cap with action downgrade: the cheapest tier serves
    "budget_throttle",  # at a cap with action throttle: 429
    "budget_block",  # at a cap with action block: 403
    "budget_fail_open",  # the budget store failed: decided from this replica's last view, request allowed
    # tier choice
    "route_explicit",  # the client named a tier (or sent ``auto`` with nothing to classify: the baseline tier)
    "route_router",  # routing.mode enforce: the router's tier is served
    "route_holdout",  # the A/B holdout: the top tier is served, the router's choice recorded
    "route_shadow",  # routing.mode shadow: baseline_tier is served, the router's choice recorded
    "route_budget_downgrade",  # a budget at its cap forced the cheapest tier
    "route_premium_tenant",  # routing.premium_tenants: the top tier
    "route_off",  # routing.mode off: baseline_tier
    "route_fallback_no_state",  # costroute did not see the request (no context): baseline_tier
    "route_fallback_unloaded",  # the router could not load: baseline_tier
    "route_fallback_error",  # the decision failed: baseline_tier
    "route_degraded_late",  # no decision by 70% of LiteLLM's classifier timeout (a saturated replica): baseline_tier
    "route_fallback_timeout",  # the decision was cancelled unfinished (LiteLLM's classifier timeout: fallback_tier)
    # cache lookup
    "cache_exact_hit",  # served from cache, same prompt after normalisation
    "cache_semantic_hit",  # served from cache, a verified near-duplicate
    "cache_shadow_hit",  # cache.mode shadow: a hit found and not served
    "cache_miss",  # looked up, nothing to serve: goes upstream
    "cache_bypass",  # not looked up: not cacheable, no state, or the cache store is failing
]
DECISION_PATHS: tuple[DecisionPath, ...] = get_args(DecisionPath)

# From an exact cache hit or a queue put (~0.1 ms) to an embedding behind a busy CPU or a stalled Redis (seconds).
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0,
                 math.inf)
STAGE_SERIES = "costroute_stage_seconds"


@dataclass(frozen=True)
class StageMetrics:
    """The two series on one registry, every label value created up front: a stage or path no request has taken
    yet reads 0 (a rate, not a gap), and a label value outside the fixed sets fails the type check."""

    seconds: Histogram
    paths: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> StageMetrics:
        seconds = Histogram(STAGE_SERIES, "Time costroute spent in one stage of a request, by stage (stages nest: "
                            "embedding waits happen inside classification or cache_lookup, cache_verify is part of "
                            "cache_lookup)", ["stage"], buckets=STAGE_BUCKETS, registry=registry)
        paths = Counter("costroute_decision_path", "Requests by the path taken at each decision point: budget_*, "
                        "route_* (tier choice), cache_* (lookup)", ["path"], registry=registry)
        for stage in STAGES:
            seconds.labels(stage)
        for path in DECISION_PATHS:
            paths.labels(path)
        return cls(seconds=seconds, paths=paths)

    @contextmanager
    def timed(self, stage: Stage) -> Iterator[None]:
        """Time the block as ``stage``, however it ends (an exception or a cancellation is time spent too)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds.labels(stage).observe(time.perf_counter() - started)

    def observe(self, stage: Stage, seconds: float) -> None:
        """A stage timed where no metrics are at hand (a worker thread inside a pure module)."""
        self.seconds.labels(stage).observe(seconds)

    def took(self, path: DecisionPath) -> None:
        self.paths.labels(path).inc()


@dataclass(frozen=True)
class StageTime:
    """One stage's histogram as scraped: observations, their total, and cumulative counts per upper bound."""

    count: float
    total_s: float
    buckets: tuple[tuple[float, float], ...]

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else math.nan

    def since(self, earlier: StageTime) -> StageTime:
        """What was observed between ``earlier`` (a scrape of the same process) and this one."""
        before = dict(earlier.buckets)
        return StageTime(self.count - earlier.count, self.total_s - earlier.total_s,
                         tuple((bound, count - before.get(bound, 0.0)) for bound, count in self.buckets))

    def plus(self, other: StageTime) -> StageTime:
        """Both processes' observations as one histogram (the same bounds: ``STAGE_BUCKETS``)."""
        theirs = dict(other.buckets)
        return StageTime(self.count + other.count, self.total_s + other.total_s,
                         tuple((bound, count + theirs.get(bound, 0.0)) for bound, count in self.buckets))

    def quantile(self, share: float) -> float:
        """Estimated as Prometheus' ``histogram_quantile`` does (linear within the bucket), so a benchmark prints
        what the dashboard shows; NaN without observations, the largest finite bound past it."""
        if not self.count:
            return math.nan
        rank = share * self.count
        lower, below = 0.0, 0.0
        for upper, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(upper):
                    return lower
                inside = cumulative - below
                return lower + (upper - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = upper, cumulative
        return lower


def stage_times(exposition: str) -> dict[str, StageTime]:
    """Each stage's ``StageTime`` from one ``/metrics`` scrape (Prometheus text format); stages absent from it
    (an older proxy) are absent here."""
    counts: dict[str, float] = {}
    totals: dict[str, float] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != STAGE_SERIES:
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "")
            if sample.name.endswith("_bucket"):
                buckets.setdefault(stage, []).append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                counts[stage] = sample.value
            elif sample.name.endswith("_sum"):
                totals[stage] = sample.value
    return {stage: StageTime(counts.get(stage, 0.0), totals.get(stage, 0.0), tuple(sorted(bounds)))
            for stage, bounds in buckets.items()}
