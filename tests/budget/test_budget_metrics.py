"""Each budget check refreshes the budget gauges the Grafana dashboard charts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from costroute_plugins.budget import BudgetGuard, BudgetMetrics, BudgetSubject, InMemoryBudgetStore
from tests.budget.conftest import budgets


async def test_a_check_sets_remaining_projected_and_counts_the_decision(clock):
    registry = CollectorRegistry()
    metrics = BudgetMetrics.create(registry)
    guard = BudgetGuard(budgets({"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 10}),
                        InMemoryBudgetStore(clock.timestamp), clock)
    first = await guard.check(BudgetSubject(tenant="team:acme"), 2.0)
    await guard.settle(first, 2.0)  # 2 USD by noon UTC

    metrics.observe(await guard.check(BudgetSubject(tenant="team:acme"), 0.5))

    labels = {"budget": "acme-daily/team:acme", "period": "daily"}
    assert registry.get_sample_value("costroute_budget_remaining_usd", labels) == 8.0
    assert registry.get_sample_value("costroute_budget_projected_usd", labels) == 4.0
    assert registry.get_sample_value("costroute_budget_limit_usd", labels) == 10.0
    assert registry.get_sample_value("costroute_budget_decisions_total", {"level": "normal", "action": "allow"}) == 1


async def test_an_unsettled_reservation_lapses_in_the_single_replica_store_too(clock):
    now = [1000.0]
    guard = BudgetGuard(budgets({"name": "tiny", "scope": "tenant", "limit_usd": 1, "action": "block"},
                                reservation_ttl_s=60), InMemoryBudgetStore(lambda: now[0]), clock)
    acme = BudgetSubject(tenant="team:acme")
    assert (await guard.check(acme, 1.0)).allowed  # never settled
    assert (await guard.check(acme, 0.1)).action == "block"
    now[0] += 61
    assert (await guard.check(acme, 0.1)).allowed
