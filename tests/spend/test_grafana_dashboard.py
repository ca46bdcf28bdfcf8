"""The shipped Grafana dashboard imports (valid JSON, panels with queries) and charts only series costroute
really exports, with labels those series really have."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from costroute_plugins.budget import BudgetMetrics
from costroute_plugins.metrics import Metrics
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.spend import LedgerConfig, SpendLedger, SpendMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "costroute.json"
SERIES = re.compile(r"\bcostroute_[a-z_]+\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
SELECTOR = re.compile(r"\b(costroute_[a-z_]+)\{([^}]*)\}")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def exported_series(tmp_path: Path) -> dict[str, set[str]]:
    """Series name as Prometheus sees it (counters end in _total) -> its label names."""
    registry = CollectorRegistry()
    series: dict[str, set[str]] = {}
    ledger = SpendLedger(LedgerConfig(enabled=True, dsn="postgresql://unused", spool_path=str(tmp_path / "spool")))
    for group in (Metrics.create(registry), BudgetMetrics.create(registry), SpendMetrics.create(registry, ledger),
                  QualityMetrics.create(registry)):
        for item in fields(group):
            metric = getattr(group, item.name)
            name = metric._name + ("_total" if isinstance(metric, Counter) else "")
            series[name] = set(metric._labelnames)
    for family in registry.collect():  # the ledger's health series, read at scrape time
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def queries() -> list[tuple[str, dict]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_the_dashboard_is_valid_json_with_a_query_in_every_panel():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(panels) >= 8
    assert all(panel["targets"] and all(target["expr"].strip() for target in panel["targets"]) for panel in panels)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_query_uses_only_exported_series_and_their_labels(tmp_path: Path):
    series = exported_series(tmp_path)
    for title, target in queries():
        used = SERIES.findall(target["expr"])
        assert used, f"{title}: query names no costroute series"
        unknown = set(used) - set(series)
        assert not unknown, f"{title}: {sorted(unknown)} are not exported by costroute"
        labels = set().union(*(series[name] for name in used))
        for group in GROUPING.findall(target["expr"]):
            assert {label.strip() for label in group.split(",")} <= labels, f"{title}: groups by a missing label"
        for name, matchers in SELECTOR.findall(target["expr"]):
            assert {m.split("=")[0].strip().rstrip("!~") for m in matchers.split(",")} <= series[name], title
        assert set(LEGEND_LABEL.findall(target.get("legendFormat", ""))) <= labels, f"{title}: legend label"


def test_the_dashboard_covers_spend_savings_tiers_budgets_anomalies_and_quality():
    used = {name for _, target in queries() for name in SERIES.findall(target["expr"])}
    assert {
        "costroute_spend_usd_total", "costroute_feature_spend_usd_total", "costroute_savings_usd_total",
        "costroute_requests_total", "costroute_budget_remaining_usd", "costroute_budget_projected_usd",
        "costroute_budget_limit_usd", "costroute_spend_anomalies_total", "costroute_ledger_up",
        "costroute_ledger_rows_total", "costroute_ledger_spool_bytes", "costroute_quality_estimate",
        "costroute_quality_standing", "costroute_quality_wrong_cache_hit_rate", "costroute_quality_audits_total",
        "costroute_quality_audit_spend_usd_total",
    } <= used
