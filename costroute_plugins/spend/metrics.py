"""Spend series beyond the foundation's ``costroute_spend_usd_total{tenant,tier}``: spend per feature and
anomaly events. Built by the adapter on the registry of ``costroute_plugins.metrics.Metrics``."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter


@dataclass(frozen=True)
class SpendMetrics:
    feature_spend_usd: Counter
    anomalies: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> SpendMetrics:
        return cls(
            feature_spend_usd=Counter("costroute_feature_spend_usd", "Spend in USD by feature tag and tenant",
                                      ["feature", "tenant"], registry=registry),
            anomalies=Counter("costroute_spend_anomalies", "Spend-rate anomaly events by tenant", ["tenant"],
                              registry=registry),
        )
