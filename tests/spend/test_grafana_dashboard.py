"""The shipped Grafana dashboard imports (valid JSON, panels with queries) and charts only series costroute
really exports, with labels those series really have."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.exported_series import GROUPING, SELECTOR, SERIES, exported_series, selector_labels

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "costroute.json"
LEGEND_LABEL = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


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
            assert selector_labels(matchers) <= series[name], title
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
