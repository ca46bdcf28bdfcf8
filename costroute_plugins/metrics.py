"""costroute's Prometheus series, registered in the registry LiteLLM's ``/metrics`` endpoint serves.

One ``Metrics`` object is built per proxy process (by the proxy adapter); tests build their own on a private
``CollectorRegistry`` so they never collide with the process-wide default registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class Metrics:
    requests: Counter
    spend_usd: Counter
    savings_usd: Counter
    plugin_degraded: Counter
    cache_lookups: Counter
    plugin_up: Gauge
    feedback: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> Metrics:
        return cls(
            requests=Counter(
                "costroute_requests",
                "Requests seen by costroute, by tier served and how the tier was decided",
                ["tier", "decision"],
                registry=registry,
            ),
            spend_usd=Counter(
                "costroute_spend_usd",
                "Spend in USD attributed by costroute, by tenant and tier",
                ["tenant", "tier"],
                registry=registry,
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
            plugin_up=Gauge(
                "costroute_plugin_up",
                "1 while a costroute plugin is loaded and healthy, 0 while it is degraded",
                ["plugin"],
                registry=registry,
            ),
            feedback=Counter(
                "costroute_router_feedback",
                "Ratings of routed answers (POST /costroute/feedback), by rating and the tier that answered",
                ["rating", "tier"],
                registry=registry,
            ),
        )
