"""The shipped Grafana dashboard (``deploy/grafana/costroute.json``) charts only series that exist: every metric name
in every query, whatever its prefix (counters end in ``_total``, histograms in ``_bucket``, ``_sum``, ``_count``),
is one costroute registers (all its metric groups, built on a private registry) or one the installed LiteLLM's
Prometheus callback registers, and every label a query groups by, selects on or shows in a legend is one of its
labels. A dashboard with a misspelt name is caught. And it charts spend and budgets beside quality, the cache, the
router, costroute's own latency, affinity and plugin health."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tests.harness import REPO
from tests.support.exported_series import exported_series, litellm_series, metric_names, selector_labels, selectors

DASHBOARD = REPO / "deploy" / "grafana" / "costroute.json"
SERIES_DOC = REPO / "docs" / "observability.md"
GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)")


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Series name as a scrape shows it -> its label names: costroute's and the installed LiteLLM's."""
    return {**exported_series(tmp_path_factory.mktemp("ledger")), **litellm_series()}


def shipped() -> dict:
    return json.loads(DASHBOARD.read_text())


def queries(dashboard: dict) -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in dashboard["panels"] for target in panel.get("targets", [])]


def problems(dashboard: dict, registered: dict[str, set[str]]) -> list[str]:
    """Each query's series and labels that nothing registers, and the template variables' ones, as messages."""
    found = []
    for title, target in queries(dashboard):
        expr = target["expr"]
        names = metric_names(expr)
        found += [f"{title}: reads no series"] if not names else []
        found += [f"{title}: {name} is not registered" for name in sorted(names - registered.keys())]
        labels = set().union(*(registered.get(name, set()) for name in names))
        used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")}
        used |= {label for name, matchers in selectors(expr) for label in selector_labels(matchers)}
        used |= set(LEGEND_LABEL.findall(target.get("legendFormat", "")))
        found += [f"{title}: no series it reads has label {label}" for label in sorted(used - labels)]
    for variable in dashboard["templating"]["list"]:
        for name, label in LABEL_VALUES.findall(json.dumps(variable.get("query", ""))):
            if label not in registered.get(name, set()):
                found.append(f"variable {variable['name']}: {name} with label {label} is not registered")
    return found


def test_the_dashboard_is_valid_json_with_a_query_in_every_panel():
    dashboard = shipped()

    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert dashboard["uid"] and dashboard["title"] and len(panels) >= 8
    assert all(panel["targets"] and all(target["expr"].strip() for target in panel["targets"]) for panel in panels)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_query_reads_only_registered_series_with_their_labels(registered: dict[str, set[str]]):
    assert problems(shipped(), registered) == []


def test_a_dashboard_with_a_misspelt_series_or_label_is_caught(registered: dict[str, set[str]]):
    broken = copy.deepcopy(shipped())
    for _, target in queries(broken):
        target["expr"] = (target["expr"].replace("costroute_stage_seconds_bucket", "costroute_stage_second_bucket")
                          .replace("litellm_request_total_latency_metric", "litellm_request_latency_metric")
                          .replace("sum by (path)", "sum by (paths)"))

    found = problems(broken, registered)

    assert "Stage latency p50 and p99: costroute_stage_second_bucket is not registered" in found
    assert any("litellm_request_latency_metric_bucket is not registered" in problem for problem in found)
    assert "Tier choice by path (req/s): no series it reads has label paths" in found


def test_the_dashboard_covers_spend_budgets_quality_cache_router_latency_affinity_and_health():
    used = {name for _, target in queries(shipped()) for name in metric_names(target["expr"])}

    assert {
        "costroute_spend_usd_total", "costroute_feature_spend_usd_total", "costroute_savings_usd_total",
        "costroute_requests_total", "costroute_budget_remaining_usd", "costroute_budget_projected_usd",
        "costroute_budget_limit_usd", "costroute_spend_anomalies_total", "costroute_ledger_up",
        "costroute_ledger_rows_total", "costroute_ledger_spool_bytes", "costroute_quality_estimate",
        "costroute_quality_standing", "costroute_quality_wrong_cache_hit_rate", "costroute_quality_audits_total",
        "costroute_quality_audit_spend_usd_total", "costroute_quality_overall",
        "costroute_decision_path_total", "costroute_cache_bypasses_total", "costroute_cache_single_flight_total",
        "costroute_cache_shadow_lookups_total", "costroute_stage_seconds_bucket", "costroute_stage_seconds_sum",
        "costroute_affinity_decisions_total", "costroute_affinity_replica_usable", "costroute_plugin_degraded_total",
        "costroute_plugin_up",
    } <= used


def test_the_operators_list_of_series_names_every_series_costroute_registers(registered: dict[str, set[str]]):
    listed = set(re.findall(r"`(costroute_[a-z_]+)`", SERIES_DOC.read_text()))
    costroute = {name for name in registered if name.startswith("costroute_")}

    assert costroute - listed == set(), "add them to docs/observability.md"
    assert listed - costroute == set(), "docs/observability.md lists series no code registers"


def test_metric_names_are_read_from_promql_whatever_their_prefix():
    expr = ('sum by (le, tier) (rate(my_app_seconds_bucket{job="x", tier=~"$tier"}[$__rate_interval])) * 3600 '
            '/ ignoring (tier) group_left sum(other_total offset 5m or vector(0)) > bool 1e-3')

    assert metric_names(expr) == {"my_app_seconds_bucket", "other_total"}
    assert selectors(expr) == [("my_app_seconds_bucket", 'job="x", tier=~"$tier"')]
