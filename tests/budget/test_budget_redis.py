"""Budgets shared by proxy replicas through Redis: caps hold under concurrency, lost reservations lapse,
and a Redis outage never fails a request: tenants seen at their cap stay capped, outage spend is counted later."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from costroute_plugins.budget import BudgetSubject, RedisBudgetStore
from tests.budget.conftest import budgets, replica

CAP = 1.00
MAX_REQUEST = 0.07  # the reservation of one request: its estimated (upper-bound) cost


async def test_fifty_concurrent_requests_on_two_replicas_stay_within_one_request_of_the_cap(redis_prefix):
    config = budgets({"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": CAP,
                      "action": "block"})
    (first, client_a), (second, client_b) = replica(config, redis_prefix), replica(config, redis_prefix)
    tenant = BudgetSubject(tenant="team:acme")

    async def one_request(guard, number: int) -> float:
        decision = await guard.check(tenant, MAX_REQUEST, request_id=f"req-{number}")
        if not decision.allowed:
            return 0.0
        await asyncio.sleep(0.01)  # the upstream call
        actual = MAX_REQUEST * 0.9  # generation stopped before max_tokens
        await guard.settle(decision, actual)
        return actual

    spent = await asyncio.gather(*(one_request(first if n % 2 else second, n) for n in range(50)))
    served = [cost for cost in spent if cost]

    assert sum(spent) <= CAP + MAX_REQUEST
    assert len(served) < 50, "the cap refused the requests beyond it"
    (state,) = await first.states(tenant)
    assert abs(state.spent_usd - sum(spent)) < 1e-9 and state.reserved_usd == 0
    await client_a.aclose()
    await client_b.aclose()


async def test_a_reservation_never_settled_by_a_crashed_replica_lapses(redis_prefix):
    config = budgets({"name": "tiny", "scope": "tenant", "limit_usd": 0.10, "action": "throttle"},
                     reservation_ttl_s=0.3)
    guard, client = replica(config, redis_prefix)
    tenant = BudgetSubject(tenant="team:acme")

    crashed = await guard.check(tenant, 0.10)  # reserved, then the replica dies: never settled
    assert crashed.allowed
    assert (await guard.check(tenant, 0.05)).action == "throttle"  # the lost reservation holds the budget ...
    await asyncio.sleep(0.4)
    assert (await guard.check(tenant, 0.05)).allowed  # ... only until it lapses
    await client.aclose()


async def test_counters_expire_after_their_period(redis_prefix):
    config = budgets({"name": "daily", "scope": "tenant", "period": "daily", "limit_usd": 5})
    guard, client = replica(config, redis_prefix)
    decision = await guard.check(BudgetSubject(tenant="t"), 0.01)
    await guard.settle(decision, 0.01)
    keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
    ttls = [await client.pttl(key) for key in keys]
    assert keys and all(0 < ttl <= (25 + 1) * 3600 * 1000 for ttl in ttls)
    await client.aclose()


async def test_with_redis_down_requests_are_allowed_and_flagged(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix, url="redis://127.0.0.1:1/0")  # nothing listens there

    decision = await guard.check(BudgetSubject(tenant="team:acme"), 0.5)

    assert decision.action == "allow" and decision.level == "degraded"
    assert "ConnectionError" in decision.degraded_reason
    assert "ConnectionError" in await guard.settle(decision, 0.5)  # kept, counted when Redis answers
    await client.aclose()


async def test_with_redis_down_a_tenant_seen_at_its_cap_stays_capped_and_outage_spend_is_counted_after(
    redis_prefix,
):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "throttle"},
                     {"name": "open", "scope": "tenant", "match": "team:open", "limit_usd": 1, "action": "throttle"})
    guard, client = replica(config, redis_prefix)
    capped, open_tenant = BudgetSubject(tenant="team:acme"), BudgetSubject(tenant="team:open")
    await guard.settle(await guard.check(capped, 1.0), 1.0)
    await guard.settle(await guard.check(open_tenant, 0.2), 0.2)
    healthy_store = guard.store
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    guard.store = RedisBudgetStore(down, prefix=redis_prefix)  # the same replica, its Redis gone

    refused = await guard.check(capped, 0.1)
    allowed = await guard.check(open_tenant, 0.3)
    await guard.settle(allowed, 0.3)
    guard.store = healthy_store  # Redis answers again
    await guard.check(BudgetSubject(tenant="team:other"), 0.0)

    state = next(s for s in await guard.states(open_tenant) if s.budget == "open")
    assert (refused.action, refused.http_status) == ("throttle", 429) and refused.degraded_reason
    assert allowed.action == "allow" and allowed.level == "degraded"
    assert abs(state.spent_usd - 0.5) < 1e-9 and state.reserved_usd == 0
    await down.aclose()
    await client.aclose()


async def test_outage_spend_is_replayed_once_when_many_requests_arrive_together_after_the_outage(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 10, "action": "throttle"})
    guard, client = replica(config, redis_prefix)
    tenant = BudgetSubject(tenant="team:acme")
    await guard.settle(await guard.check(tenant, 0.1), 0.1)
    healthy_store = guard.store
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    guard.store = RedisBudgetStore(down, prefix=redis_prefix)
    for _ in range(3):
        await guard.settle(await guard.check(tenant, 0.2), 0.2)
    guard.store = healthy_store

    decisions = await asyncio.gather(*(guard.check(tenant, 0.0) for _ in range(10)))

    assert all(d.allowed and d.degraded_reason is None for d in decisions)
    (state,) = await guard.states(tenant)
    assert abs(state.spent_usd - 0.7) < 1e-9
    await down.aclose()
    await client.aclose()
