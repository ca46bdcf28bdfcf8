"""What a tenant sees as its budget fills up: normal service, then cheaper routing, then the cap's action;
and a fresh budget when the day or month turns over in the configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from costroute_plugins.budget import BudgetGuard, BudgetSubject, InMemoryBudgetStore, estimate_cost_usd
from costroute_plugins.budget.periods import period_at
from costroute_plugins.spend.pricing import TokenRates
from tests.budget.conftest import budgets

ACME = BudgetSubject(tenant="team:acme", team="acme", feature="search")


async def spend(guard: BudgetGuard, usd: float, subject: BudgetSubject = ACME):
    decision = await guard.check(subject, usd)
    if decision.allowed:
        await guard.settle(decision, usd)
    return decision


def guard_for(clock, *specs: dict, **settings) -> BudgetGuard:
    return BudgetGuard(budgets(*specs, **settings), InMemoryBudgetStore(clock.timestamp), clock)


async def test_below_the_soft_limit_nothing_changes(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 10})
    await spend(guard, 6.0)

    decision = await guard.check(ACME, 0.01)

    assert (decision.action, decision.level, decision.pressure, decision.quality_relaxation) == \
        ("allow", "normal", 0.0, 0.0)
    assert decision.relax_threshold(0.6) == 0.6


async def test_between_soft_limit_and_cap_the_router_relaxes_in_proportion(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 10,
                              "soft_limit": 0.7}, max_quality_relaxation=0.5)
    await spend(guard, 8.5)  # half-way between the soft limit (7) and the cap (10)

    decision = await guard.check(ACME, 0.01)

    assert decision.action == "allow" and decision.level == "soft" and decision.budget == "acme-daily"
    assert decision.pressure == pytest.approx(0.5)
    assert decision.quality_relaxation == pytest.approx(0.25)
    assert decision.relax_threshold(0.6) == pytest.approx(0.7)  # premium is harder to reach
    assert decision.state_label == "soft:acme-daily@85%"


async def test_at_the_cap_downgrade_serves_the_cheapest_tier(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 1,
                              "action": "downgrade"})
    await spend(guard, 1.0)

    decision = await guard.check(ACME, 0.2)

    assert decision.action == "downgrade" and decision.allowed and decision.reservation is not None
    assert "cheapest tier" in decision.message


async def test_at_the_cap_throttle_answers_429_until_local_midnight(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 1,
                              "action": "throttle"}, timezone="Europe/Berlin")
    await spend(guard, 1.0)

    decision = await guard.check(ACME, 0.2)  # 12:00 UTC is 13:00 in Berlin: 11 hours to midnight

    assert decision.action == "throttle" and decision.http_status == 429 and not decision.allowed
    assert decision.retry_after_s == 11 * 3600 + 1
    assert "acme-daily" in decision.message and "retry after" in decision.message


async def test_throttle_can_use_a_fixed_retry_after(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "limit_usd": 1, "action": "throttle",
                              "retry_after_s": 60})
    await spend(guard, 1.0)
    assert (await guard.check(ACME, 0.2)).retry_after_s == 60


async def test_at_the_cap_block_names_the_budget(clock):
    guard = guard_for(clock, {"name": "acme-monthly", "scope": "team", "match": "acme", "period": "monthly",
                              "limit_usd": 100, "action": "block"})
    await spend(guard, 100.0)

    decision = await guard.check(ACME, 0.2)

    assert decision.action == "block" and decision.http_status == 403
    assert decision.message.startswith("budget 'acme-monthly' for team acme has reached its monthly cap of $100.00")
    assert "2026-12-01T00:00:00+00:00" in decision.message
    other_team = BudgetSubject(tenant="team:ops", team="ops")
    assert (await guard.check(other_team, 0.2)).level == "unlimited"  # `match` limits the budget to acme


async def test_a_blocking_budget_wins_over_a_downgrading_one_and_holds_nothing(clock):
    guard = guard_for(clock,
                      {"name": "tenant-soft", "scope": "tenant", "limit_usd": 1, "action": "downgrade"},
                      {"name": "search-hard", "scope": "feature", "limit_usd": 1, "action": "block"})
    await spend(guard, 1.0)

    decision = await guard.check(ACME, 0.5)

    assert decision.action == "block" and decision.budget == "search-hard"
    states = await guard.states(ACME)
    assert all(state.reserved_usd == 0 for state in states)


async def test_exempt_tenants_are_counted_but_never_refused(clock):
    guard = guard_for(clock, {"name": "per-tenant", "scope": "tenant", "limit_usd": 1, "action": "block"},
                      exempt_tenants=["team:acme"])
    await spend(guard, 5.0)

    decision = await guard.check(ACME, 1.0)

    assert decision.action == "allow" and decision.level == "exempt"
    assert decision.states[0].spent_usd == pytest.approx(5.0)


async def test_each_tenant_has_its_own_counter(clock):
    guard = guard_for(clock, {"name": "per-tenant", "scope": "tenant", "limit_usd": 1, "action": "block"})
    await spend(guard, 1.0)
    assert (await guard.check(BudgetSubject(tenant="team:ops"), 0.5)).action == "allow"


async def test_a_daily_budget_resets_at_midnight_in_its_time_zone(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 1,
                              "action": "block"}, timezone="America/New_York")
    clock.now = datetime(2026, 11, 24, 4, 30, tzinfo=UTC)  # 23:30 on the 23rd in New York
    await spend(guard, 1.0)
    assert (await guard.check(ACME, 0.1)).action == "block"

    clock.now += timedelta(minutes=31)  # 00:01 on the 24th in New York (still 05:01 UTC on the 24th)

    decision = await guard.check(ACME, 0.1)
    assert decision.action == "allow" and decision.states[0].spent_usd == 0


async def test_a_monthly_budget_resets_on_the_first_in_its_time_zone(clock):
    guard = guard_for(clock, {"name": "acme-monthly", "scope": "tenant", "limit_usd": 1, "action": "block"},
                      timezone="Asia/Tokyo")
    clock.now = datetime(2026, 11, 30, 14, 59, tzinfo=UTC)  # 23:59 on 30 November in Tokyo
    await spend(guard, 1.0)
    assert (await guard.check(ACME, 0.1)).action == "block"
    clock.now += timedelta(minutes=1)  # 00:00 on 1 December in Tokyo
    assert (await guard.check(ACME, 0.1)).action == "allow"


def test_a_dst_day_has_its_real_length():
    zone = budgets(timezone="Europe/Berlin").zone
    autumn = period_at("daily", datetime(2026, 10, 25, 12, tzinfo=UTC), zone)
    assert autumn.id == "d2026-10-25" and autumn.length_s == 25 * 3600
    december = period_at("monthly", datetime(2026, 12, 31, 23, 30, tzinfo=UTC), zone)
    assert december.id == "m2027-01"  # already January in Berlin


async def test_burn_rate_projects_the_end_of_period_spend(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 100})
    await spend(guard, 10.0)  # 10 USD by 12:00 UTC: half of the day

    (state,) = await guard.states(ACME)

    assert state.projected_usd == pytest.approx(20.0)
    assert state.remaining_usd == pytest.approx(90.0)


async def test_settling_releases_what_the_estimate_overstated(clock):
    guard = guard_for(clock, {"name": "acme-daily", "scope": "tenant", "limit_usd": 100})
    rates = TokenRates(input_usd_per_token=2e-6, output_usd_per_token=8e-6)
    estimate = estimate_cost_usd(prompt_tokens=1000, max_tokens=500, rates=rates, default_max_tokens=1024)
    assert estimate == pytest.approx(0.006)

    decision = await guard.check(ACME, estimate)
    assert (await guard.states(ACME))[0].reserved_usd == pytest.approx(0.006)
    await guard.settle(decision, 0.0031)

    (state,) = await guard.states(ACME)
    assert state.reserved_usd == 0 and state.spent_usd == pytest.approx(0.0031)


def test_a_wrong_budget_setting_names_the_key():
    with pytest.raises(ValidationError) as error:
        budgets({"name": "x", "scope": "tenant", "limt_usd": 5})
    assert "limt_usd" in str(error.value) and "Extra inputs are not permitted" in str(error.value)
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        budgets(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="names must be unique"):
        budgets({"name": "x", "scope": "tenant", "limit_usd": 5}, {"name": "x", "scope": "team", "limit_usd": 5})


def test_a_max_tokens_that_is_not_a_positive_integer_reserves_the_default():
    from costroute_plugins.budget.estimate import estimate_cost_usd
    from costroute_plugins.spend.pricing import TokenRates

    rates = TokenRates(input_usd_per_token=1e-6, output_usd_per_token=2e-6)
    for sent in ({"a": 1}, "500", True, -5, None, 1.5):
        assert estimate_cost_usd(10, sent, rates, 100) == 10 * 1e-6 + 100 * 2e-6
    assert estimate_cost_usd(10, 50, rates, 100) == 10 * 1e-6 + 50 * 2e-6
