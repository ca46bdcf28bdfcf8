"""An operator sets ``budget.webhook_url``: as a budget fills up, its owner hears about it once when the spend
crosses the soft limit and once when it reaches the cap, per period, however many requests and replicas see it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from costroute_plugins.budget import AlertOnce, BudgetGuard, BudgetSubject, InMemoryBudgetStore, crossings
from costroute_plugins.budget.alerts import BudgetAlert
from costroute_plugins.config import CostrouteConfigError, parse_config
from tests.budget.conftest import REDIS_URL, budgets

ACME = BudgetSubject(tenant="team:acme", team="acme")
TEAM_DAILY = {"name": "team-daily", "scope": "team", "period": "daily", "limit_usd": 10, "soft_limit": 0.7,
              "action": "throttle"}


class Announcer:
    """What the proxy adapter does with every decision: the budgets past a threshold, each let through once."""

    def __init__(self, clock, *specs: dict, **settings) -> None:
        self.config = budgets(*specs, **settings)
        self.guard = BudgetGuard(self.config, InMemoryBudgetStore(clock.timestamp), clock)
        self.once = AlertOnce()

    async def spend(self, usd: float, subject: BudgetSubject = ACME) -> list[BudgetAlert]:
        """One request of ``usd``; the alerts its check announces (the spend settled before it counts)."""
        decision = await self.guard.check(subject, usd)
        if decision.allowed:
            await self.guard.settle(decision, usd)
        return self.once.unseen(crossings(decision, self.config))


async def test_crossing_the_soft_limit_then_the_cap_announces_each_once(clock):
    budget = Announcer(clock, TEAM_DAILY)

    quiet = [await budget.spend(2.0) for _ in range(4)]  # settled: 0, 2, 4, 6 (below 70%)
    soft = await budget.spend(1.0)  # sees $8 settled: past the soft limit
    still_soft = await budget.spend(1.0)  # sees $9
    capped = await budget.spend(1.0)  # sees $10: at the cap, refused from now on
    still_capped = [await budget.spend(1.0) for _ in range(3)]

    assert quiet == [[], [], [], []]
    assert [(a.level, a.budget, a.subject, a.spent_usd) for a in soft] == [("soft_limit", "team-daily", "acme", 8.0)]
    assert still_soft == []
    assert [(a.level, a.spent_usd) for a in capped] == [("cap", 10.0)]
    assert still_capped == [[], [], []]


async def test_the_next_period_announces_again(clock):
    budget = Announcer(clock, TEAM_DAILY)
    await budget.spend(8.0)
    first_day = await budget.spend(0.1)

    clock.now += timedelta(days=1)
    await budget.spend(8.0)
    second_day = await budget.spend(0.1)

    assert [a.level for a in first_day] == [a.level for a in second_day] == ["soft_limit"]
    assert first_day[0].key != second_day[0].key


async def test_a_request_that_jumps_past_both_thresholds_announces_only_the_cap(clock):
    budget = Announcer(clock, TEAM_DAILY)
    await budget.spend(12.0)

    alerts = await budget.spend(0.1)

    assert [a.level for a in alerts] == ["cap"]


async def test_reservations_in_flight_do_not_announce_what_spend_never_reaches(clock):
    budget = Announcer(clock, TEAM_DAILY)
    in_flight = [await budget.guard.check(ACME, 3.0) for _ in range(3)]  # $9 reserved, nothing settled yet

    alerts = budget.once.unseen(crossings(await budget.guard.check(ACME, 0.1), budget.config))

    assert all(decision.allowed for decision in in_flight)
    assert alerts == []


async def test_each_team_of_a_per_team_budget_is_announced_on_its_own(clock):
    budget = Announcer(clock, {**TEAM_DAILY, "action": "downgrade"})
    other = BudgetSubject(tenant="team:beta", team="beta")
    await budget.spend(8.0)
    await budget.spend(8.0, other)

    alerts = await budget.spend(0.1) + await budget.spend(0.1, other)

    assert sorted(a.subject for a in alerts) == ["acme", "beta"]


async def test_the_alert_reads_like_a_slack_message_and_carries_the_fields(clock):
    budget = Announcer(clock, {**TEAM_DAILY, "match": "acme"}, timezone="Europe/Berlin")
    await budget.spend(10.0)

    (alert,) = await budget.spend(0.1)
    document = alert.to_json()

    assert document["type"] == "costroute.budget_alert"
    assert "budget 'team-daily' (team acme) reached its daily cap of $10.00" in document["text"]
    assert "refused with HTTP 429" in document["text"] and "raise its limit_usd" in document["text"]
    assert {key: document[key] for key in ("budget", "scope", "match", "subject", "period", "spent_usd",
                                           "limit_usd", "soft_limit", "level", "action")} == {
        "budget": "team-daily", "scope": "team", "match": "acme", "subject": "acme", "period": "daily",
        "spent_usd": 10.0, "limit_usd": 10.0, "soft_limit": 0.7, "level": "cap", "action": "throttle"}
    assert document["period_resets_at"] == "2026-11-24T00:00:00+01:00"  # local midnight in budget.timezone


async def test_exempt_tenants_and_decisions_taken_without_the_store_announce_nothing(clock):
    exempt = Announcer(clock, TEAM_DAILY, exempt_tenants=["team:acme"])
    await exempt.spend(12.0)

    class DownStore(InMemoryBudgetStore):
        async def reserve(self, *args, **kwargs):
            raise ConnectionError("redis down")

    down = Announcer(clock, TEAM_DAILY)
    down.guard.store = DownStore(clock.timestamp)

    assert await exempt.spend(0.1) == []
    assert await down.spend(0.1) == []


async def test_two_replicas_on_one_redis_announce_an_alert_once_between_them(clock, redis_prefix):
    clock.now = datetime.now(UTC)  # Redis expires keys on its own clock: the period must be today's
    budget = Announcer(clock, TEAM_DAILY)
    await budget.spend(8.0)
    (alert,) = await budget.spend(0.1)
    clients = [Redis.from_url(REDIS_URL) for _ in range(2)]
    replicas = [AlertOnce(client, prefix=redis_prefix) for client in clients]

    # Both replicas see the crossing for the first time at once; only one of them posts it.
    claims = await asyncio.gather(*(replica.claim(alert) for replica in replicas for _ in range(3)))
    expires_ms = await clients[0].execute_command("PEXPIRETIME", f"{redis_prefix}alert:{alert.key}")

    assert sorted(claims) == [False] * 5 + [True]
    # The key lives until the budget's period ends (plus the counters' grace): the next period alerts anew.
    assert expires_ms == int(alert.expires_at * 1000)
    for client in clients:
        await client.aclose()


async def test_without_redis_each_replica_remembers_what_it_announced_within_a_bound(clock):
    budget = Announcer(clock, TEAM_DAILY)
    await budget.spend(8.0)
    (alert,) = await budget.spend(0.1)
    small = AlertOnce(max_keys=2)

    assert await small.claim(alert)  # no Redis: whoever saw it first on this replica announces it
    assert small.unseen([alert]) == [alert] and small.unseen([alert]) == []
    others = [BudgetAlert("cap", f"b{n}", "team", None, "acme", "daily", alert.period_end, 1, 1, 0.7, "block")
              for n in range(3)]
    assert small.unseen(others) == others
    assert len(small._seen) == 2  # the oldest are forgotten first


def test_a_webhook_that_is_not_a_url_is_named_with_its_key():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"budget": {"webhook_url": "hooks.example.com/budget"}})

    assert "costroute.budget.webhook_url" in str(error.value)
