"""costroute's Prometheus series, registered in the registry LiteLLM's ``/metrics`` endpoint serves.

One ``Metrics`` object is built per proxy process (by the proxy adapter); tests build their own on a private
``CollectorRegistry`` so they never collide with the process-wide default registry. Labels a client or key
chooses (tenant, and tier and decision, which come from request metadata) are bounded (``LabelBounds``); the
per-stage time and decision-path series (``stages.py``) have fixed label values.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from costroute_plugins.labels import BoundedCounter, LabelBounds
from costroute_plugins.stages import StageMetrics


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    spend_usd: Counter
    savings_usd: Counter
    plugin_degraded: Counter
    cache_lookups: Counter
    cache_bypasses: Counter
    cache_single_flight: Counter
    plugin_up: Gauge
    feedback: Counter
    stages: StageMetrics

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY, bounds: LabelBounds | None = None) -> Metrics:
        """The series on ``registry``; ``bounds`` shared with the other metric groups (default: the defaults)."""
        bounds = bounds or LabelBounds.default()
        return cls(
            requests=BoundedCounter(
                "costroute_requests",
                "Requests seen by costroute, by tier served and how the tier was decided",
                ["tier", "decision"],
                registry=registry,
                bounds={"tier": bounds.tier, "decision": bounds.decision},
            ),
            spend_usd=BoundedCounter(
                "costroute_spend_usd",
                "Spend in USD attributed by costroute, by tenant and tier",
                ["tenant", "tier"],
                registry=registry,
                bounds={"tenant": bounds.tenant, "tier": bounds.tier},
            ),
            savings_usd=Counter(
                "costroute_savings_usd",
                "USD saved against serving the request on the premium tier without cache",
                ["kind"],
                registry=registry,
            ),
            plugin_degraded=Counter(
                "costroute_plugin_degraded",
                "Times a costroute plugin failed and let the request through without its feature",
                ["plugin", "reason"],
                registry=registry,
            ),
            cache_lookups=Counter(
                "costroute_cache_lookups",
                "Semantic cache lookups by result: hit, miss, or bypass (not cacheable, or the cache is degraded)",
                ["result"],
                registry=registry,
            ),
            cache_bypasses=Counter(
                "costroute_cache_bypasses",
                "Requests the semantic cache left alone (and semantic tiers skipped), by kind of reason: parameters, "
                "sampled, too_long, beyond_window (exact matches only), shape, route, store, embedding, no_state",
                ["reason"],
                registry=registry,
            ),
            cache_single_flight=Counter(
                "costroute_cache_single_flight",
                "Requests that waited for an identical request in flight instead of calling upstream, by outcome: "
                "shared (served its stored answer as a cache hit), leader_hit (its lookup hit), not_stored, failed, "
                "timeout and missed (went upstream after all); full: too many prompts in flight to wait",
                ["outcome"],
                registry=registry,
            ),
            plugin_up=Gauge(
                "costroute_plugin_up",
                "1 while a costroute plugin is loaded and healthy, 0 while it is degraded",
                ["plugin"],
                registry=registry,
            ),
            feedback=BoundedCounter(
                "costroute_router_feedback",
                "Ratings of routed answers (POST /costroute/feedback), by rating and the tier that answered",
                ["rating", "tier"],
                registry=registry,
                bounds={"tier": bounds.tier},
            ),
            stages=StageMetrics.create(registry),
        )
