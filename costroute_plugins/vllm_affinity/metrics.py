"""Affinity series for Prometheus, on the registry LiteLLM's /metrics serves: why each request went where it
did, and which replicas are being skipped."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class AffinityMetrics:
    decisions: Counter
    replica_usable: Gauge
    matched_blocks: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> AffinityMetrics:
        return cls(
            decisions=Counter("costroute_affinity_decisions", "Replica choices by model group and reason "
                              "(cache, ring, spill, least-loaded, short-prompt, only, bypass)",
                              ["group", "reason"], registry=registry),
            replica_usable=Gauge("costroute_affinity_replica_usable", "1 while a replica takes new requests, "
                                 "0 while it is skipped (down or stale metrics)", ["group", "replica"],
                                 registry=registry),
            matched_blocks=Counter("costroute_affinity_matched_blocks", "Prompt blocks the chosen replica was "
                                   "expected to hold already", ["group"], registry=registry),
        )
