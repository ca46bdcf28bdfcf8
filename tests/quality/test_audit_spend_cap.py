"""Audit spend never exceeds its caps (per day, and as a share of the day's savings), across concurrent audits,
replicas and the turn of the day."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from costroute_plugins.budget import InMemoryBudgetStore, RedisBudgetStore
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.spend_cap import AuditSpendGovernor, cap_usd, check_spend
from tests.conftest import REDIS_URL
from tests.support.clock import Clock

CONFIG = QualityConfig(enabled=True, max_usd_per_day=1.0, max_share_of_savings=0.1)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


def governor(clock: Clock, config: QualityConfig = CONFIG, **options) -> AuditSpendGovernor:
    return AuditSpendGovernor(config, InMemoryBudgetStore(clock.timestamp), clock=clock, **options)


def test_the_cap_is_the_lower_of_the_day_amount_and_the_share_of_savings():
    assert cap_usd(CONFIG, 3.0) == pytest.approx(0.3)
    assert cap_usd(CONFIG, 50.0) == 1.0
    assert cap_usd(CONFIG, -4.0) == 0.0  # a day that lost money funds no audit


@pytest.mark.parametrize(("committed", "savings", "estimate", "reason"), [
    (0.0, 10.0, 0.0, "unpriced"),
    (0.0, 10.0, -0.01, "unpriced"),
    (0.0, 10.0, math.nan, "unpriced"),
    (0.95, 100.0, 0.06, "daily_cap"),
    (0.25, 3.0, 0.06, "savings_cap"),
    (0.0, 0.0, 0.01, "savings_cap"),  # no savings yet today: no audits
    (0.24, 3.0, 0.06, "allowed"),  # exactly at the cap is within it
])
def test_check_spend_says_which_cap_refuses(committed, savings, estimate, reason):
    check = check_spend(CONFIG, committed, savings, estimate)

    assert (check.allowed, check.reason) == (reason == "allowed", reason)


async def test_audits_are_admitted_until_the_next_would_pass_the_cap(clock):
    g = governor(clock)
    admitted = []
    for _ in range(10):
        check, hold = await g.reserve(0.07, savings_today_usd=3.0)  # cap 0.30
        if hold is None:
            assert check.reason == "savings_cap" and check.committed_usd == pytest.approx(0.28)
            break
        admitted.append(hold)

    assert len(admitted) == 4
    for hold in admitted:
        await g.settle(hold, 0.05)
    assert await g.spent_today() == pytest.approx(0.20)
    assert (await g.reserve(0.07, savings_today_usd=3.0))[1] is not None  # settled below estimate: room again


async def test_a_new_day_starts_empty_and_late_settles_count_to_the_day_they_started(clock):
    g = governor(clock, zone=ZoneInfo("Europe/Berlin"))
    _check, hold = await g.reserve(1.0, savings_today_usd=100.0)
    assert hold is not None and (await g.reserve(0.01, savings_today_usd=100.0))[1] is None

    clock.now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 in Berlin: the next day
    await g.settle(hold, 0.9)

    assert await g.spent_today() == 0.0
    assert (await g.reserve(1.0, savings_today_usd=100.0))[1] is not None


async def test_an_audit_never_settled_stops_holding_the_cap(clock):
    g = governor(clock, reservation_ttl_s=600)
    assert (await g.reserve(1.0, savings_today_usd=100.0))[1] is not None  # its replica dies

    clock.now += timedelta(seconds=601)

    assert (await g.reserve(1.0, savings_today_usd=100.0))[1] is not None


async def test_an_unpriced_or_oversized_audit_is_refused_without_holding_anything(clock):
    g = governor(clock)

    assert (await g.reserve(0.0, 100.0)) == (check_spend(CONFIG, 0.0, 100.0, 0.0), None)
    check, hold = await g.reserve(2.0, 100.0)

    assert hold is None and check.reason == "daily_cap"
    assert (await g.reserve(1.0, 100.0))[1] is not None


@settings(max_examples=60, deadline=None)
@given(audits=st.lists(st.tuples(st.floats(0.001, 0.5), st.floats(0.0, 1.0), st.floats(0.0, 2.0)),
                       min_size=1, max_size=40))
def test_concurrent_audits_never_spend_beyond_the_cap(audits):
    """Each audit: (estimate, share of it actually spent, savings added meanwhile). Savings only grow over a
    day, so the cap at every moment is at least the cap any earlier audit was admitted under."""
    clock = Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    g = governor(clock)

    async def run() -> None:
        savings = 0.0

        async def one(estimate: float, spent_share: float) -> None:
            _check, hold = await g.reserve(estimate, savings)
            if hold is not None:
                await asyncio.sleep(0)  # the audit's calls: others reserve meanwhile
                await g.settle(hold, estimate * spent_share)

        for start in range(0, len(audits), 4):  # four audits in flight at a time
            batch = audits[start:start + 4]
            savings += sum(added for _e, _s, added in batch)
            await asyncio.gather(*(one(estimate, share) for estimate, share, _added in batch))
            assert await g.spent_today() <= cap_usd(CONFIG, savings) + 1e-9

    asyncio.run(run())


async def test_replicas_sharing_redis_share_one_cap(redis_prefix):
    # The real clock: Redis expires a day's counter at the day's end by its own clock.
    clients = [Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)]
    replicas = [AuditSpendGovernor(CONFIG, RedisBudgetStore(client, prefix=redis_prefix)) for client in clients]

    async def one(number: int) -> float:
        g = replicas[number % 2]
        _check, hold = await g.reserve(0.07, savings_today_usd=100.0, request_id=f"req-{number}")
        if hold is None:
            return 0.0
        await asyncio.sleep(0.01)
        await g.settle(hold, 0.07)
        return 0.07

    spent = await asyncio.gather(*(one(n) for n in range(40)))

    assert sum(spent) <= 1.0 + 1e-9 and sum(1 for s in spent if s) == 14
    assert await replicas[0].spent_today() == pytest.approx(sum(spent))
    for client in clients:
        await client.aclose()
