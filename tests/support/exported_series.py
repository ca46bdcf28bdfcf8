"""Every Prometheus series costroute exports, with its label names, and the PromQL patterns that find them in a
query: what the Grafana dashboard and the alert rules are checked against, so neither can chart or alert on a
series (or a label) that no code registers."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from costroute_plugins.budget import BudgetMetrics
from costroute_plugins.metrics import Metrics
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.spend import LedgerConfig, SpendLedger, SpendMetrics
from costroute_plugins.vllm_affinity.metrics import AffinityMetrics

SERIES = re.compile(r"\bcostroute_[a-z_]+\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
SELECTOR = re.compile(r"\b(costroute_[a-z_]+)\{([^}]*)\}")


def exported_series(tmp_path: Path) -> dict[str, set[str]]:
    """Series name as Prometheus sees it (counters end in _total) -> its label names."""
    registry = CollectorRegistry()
    series: dict[str, set[str]] = {}
    ledger = SpendLedger(LedgerConfig(enabled=True, dsn="postgresql://unused", spool_path=str(tmp_path / "spool")))
    for group in (Metrics.create(registry), BudgetMetrics.create(registry), SpendMetrics.create(registry, ledger),
                  QualityMetrics.create(registry), AffinityMetrics.create(registry)):
        for item in fields(group):
            metric = getattr(group, item.name)
            name = metric._name + ("_total" if isinstance(metric, Counter) else "")
            series[name] = set(metric._labelnames)
    for family in registry.collect():  # the ledger's health series, read at scrape time
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def selector_labels(matchers: str) -> set[str]:
    """The label names of a selector's matchers: ``a="x", b=~"y|z"`` -> {a, b}."""
    return {matcher.split("=")[0].strip().rstrip("!~") for matcher in matchers.split(",")}
