"""Labels that clients and keys choose (feature tags, tenants) cannot blow up the proxy's memory or ``/metrics``:
past a configured number of distinct values they are exported as ``other``, totals intact, listed values kept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from costroute_plugins.budget import BudgetGuard, BudgetMetrics, BudgetSubject, InMemoryBudgetStore
from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.labels import BoundedLabel, LabelBounds
from costroute_plugins.metrics import Metrics
from costroute_plugins.spend import AnomalyConfig, AnomalyDetector, SpendMetrics
from costroute_plugins.spend.config import MetricLabelsConfig
from tests.budget.conftest import budgets
from tests.support.clock import Clock

SETTINGS = MetricLabelsConfig(max_tenants=100, max_features=50, features=["search"], tenants=["team:acme"])


def values_of(registry: CollectorRegistry, series: str, label: str) -> set[str]:
    return {sample.labels[label] for family in registry.collect() for sample in family.samples
            if sample.name == series}


def total(registry: CollectorRegistry, series: str) -> float:
    return sum(sample.value for family in registry.collect() for sample in family.samples if sample.name == series)


def test_fifty_thousand_feature_tags_from_ten_thousand_tenants_make_a_small_scrape():
    registry = CollectorRegistry()
    bounds = LabelBounds.from_config(SETTINGS, tiers=["cheap", "premium"])
    metrics, spend = Metrics.create(registry, bounds), SpendMetrics.create(registry, bounds=bounds)

    for number in range(50_000):  # every request invents a feature tag; keys rotate over 10,000 tenants
        tenant = f"team:{number % 10_000}"
        spend.feature_spend_usd.labels(f"tag-{number}", tenant).inc(0.01)
        metrics.spend_usd.labels(tenant, "cheap").inc(0.01)
        spend.anomalies.labels(tenant).inc()
    spend.feature_spend_usd.labels("search", "team:acme").inc(1)  # listed values arrive after the bound is full
    metrics.spend_usd.labels("team:acme", "premium").inc(1)

    features = values_of(registry, "costroute_feature_spend_usd_total", "feature")
    tenants = values_of(registry, "costroute_feature_spend_usd_total", "tenant")
    assert len(features) <= 50 + 2 and {"search", "other", "tag-0", "tag-49"} <= features and "tag-50" not in features
    assert len(tenants) <= 100 + 2 and {"team:acme", "other"} <= tenants
    assert len(values_of(registry, "costroute_spend_usd_total", "tenant")) <= 100 + 2
    assert len(values_of(registry, "costroute_spend_anomalies_total", "tenant")) <= 100 + 1
    assert total(registry, "costroute_feature_spend_usd_total") == pytest.approx(50_000 * 0.01 + 1)  # nothing lost
    assert total(registry, "costroute_spend_usd_total") == pytest.approx(50_000 * 0.01 + 1)
    assert len(generate_latest(registry)) < 200_000  # unbounded: about 10 MB


def test_tier_and_decision_read_from_request_metadata_are_bounded_too():
    registry = CollectorRegistry()
    metrics = Metrics.create(registry, LabelBounds.from_config(MetricLabelsConfig(max_values=5), tiers=["cheap"]))
    for number in range(1_000):  # a caller writes its own routing_decision into the request metadata
        metrics.requests.labels(f"tier-{number}", f"cause-{number}").inc()
    metrics.requests.labels("cheap", "router").inc()

    assert values_of(registry, "costroute_requests_total", "tier") == {"cheap", "other"} | {
        f"tier-{number}" for number in range(5)}
    assert len(values_of(registry, "costroute_requests_total", "decision")) == 5 + 1


async def test_a_per_tenant_budget_gauges_named_tenants_and_one_other():
    clock = Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    registry = CollectorRegistry()
    metrics = BudgetMetrics.create(registry, LabelBounds.from_config(MetricLabelsConfig(max_tenants=10)))
    guard = BudgetGuard(budgets({"name": "tenant-daily", "scope": "tenant", "period": "daily", "limit_usd": 10}),
                        InMemoryBudgetStore(clock.timestamp), clock)

    for number in range(300):
        metrics.observe(await guard.check(BudgetSubject(tenant=f"team:{number}"), 0.5))

    named = values_of(registry, "costroute_budget_remaining_usd", "budget")
    assert len(named) == 10 + 1 and "tenant-daily/other" in named and "tenant-daily/team:0" in named


def test_the_bound_holds_when_many_threads_report_at_once():
    bound = BoundedLabel("feature", limit=50)
    seen: list[set[str]] = [set() for _ in range(8)]

    def report(worker: int) -> None:
        for number in range(5_000):
            seen[worker].add(bound(f"tag-{worker}-{number}"))

    threads = [threading.Thread(target=report, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set().union(*seen) - {"other"}) == 50


def test_a_huge_tag_is_cut_to_a_bounded_length():
    assert len(BoundedLabel("feature", limit=5)("x" * 100_000)) == 100


@pytest.mark.parametrize(("section", "expected"), [
    ({"spend": {"metrics": {"max_tenant": 5}}},
     "costroute.spend.metrics.max_tenant: unknown key. Fix: did you mean 'max_tenants'?"),
    ({"spend": {"metrics": {"max_features": -1}}}, "costroute.spend.metrics.max_features: Input should be greater"),
    ({"spend": {"metrics": {"features": "search"}}}, "costroute.spend.metrics.features: Input should be a valid list"),
    ({"spend": {"anomaly": {"max_tenants": 0}}}, "costroute.spend.anomaly.max_tenants: Input should be greater"),
])
def test_a_wrong_label_bound_setting_names_its_key(section, expected):
    with pytest.raises(CostrouteConfigError) as error:
        parse_config(section)
    assert expected in str(error.value)


def test_a_caller_inventing_tenants_neither_grows_the_anomaly_detector_nor_blinds_it():
    detector = AnomalyDetector(AnomalyConfig(multiple=3, min_spend_usd=1, max_tenants=1_000))
    start = datetime(2026, 11, 23, tzinfo=UTC)
    for hour in range(6):  # an established tenant, spending its usual 2 USD an hour
        assert detector.observe("team:acme", 2.0, start + timedelta(hours=hour, minutes=5)) is None
    for hour in range(6, 9):  # a caller sends a new end-user id with every request, for hours
        for number in range(20_000):
            detector.observe(f"end_user:{hour}-{number}", 0.01, start + timedelta(hours=hour, seconds=number / 10))

    assert len(detector) == 1_000
    assert detector.observe("team:acme", 50.0, start + timedelta(hours=9)) is not None  # its runaway is still seen
