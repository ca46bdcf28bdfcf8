"""Budgets against callers who choose what they send: tags and end users of another team, many answers, absurd
token limits, streams dropped before the first chunk, negative costs, store outages and reused request ids."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from costroute_plugins.budget import BudgetGuard, BudgetMetrics, BudgetStore, BudgetSubject, InMemoryBudgetStore
from costroute_plugins.budget.estimate import MAX_ANSWERS, answer_count, estimate_cost_usd
from costroute_plugins.budget.store import Charge, ReserveOutcome, Usage
from costroute_plugins.spend.pricing import TokenRates
from tests.budget.conftest import budgets, replica

RATES = TokenRates(input_usd_per_token=1e-6, output_usd_per_token=1e-5)
PREMIUM = TokenRates(input_usd_per_token=2e-6, output_usd_per_token=8e-6)
CHEAP = TokenRates(input_usd_per_token=1e-7, output_usd_per_token=1e-6)


def team(name: str, **claims: str) -> BudgetSubject:
    """A request from team ``name`` as the proxy sees it: the team authenticated, the rest the caller's claims."""
    return BudgetSubject(tenant=f"team:{name}", team=name, owner=f"team:{name}", **claims)


async def spend(guard: BudgetGuard, subject: BudgetSubject, usd: float):
    decision = await guard.check(subject, usd)
    if decision.allowed:
        await guard.settle(decision, usd)
    return decision


class DownStore(BudgetStore):
    """A budget store whose Redis is gone: every call fails the way a refused connection does."""

    async def reserve(self, reservation_id: str, charges: Sequence[Charge], ttl_s: float) -> ReserveOutcome:
        raise ConnectionError("store down")

    async def settle(self, reservation_id: str, keys: Sequence[str], actual: int, expires_at: Sequence[float]) -> None:
        raise ConnectionError("store down")

    async def usage(self, keys: Sequence[str]) -> tuple[Usage, ...]:
        raise ConnectionError("store down")


# -- feature and end-user budgets count within the team that sent them ------------------------------------------

async def test_one_team_spending_on_a_feature_tag_never_moves_another_teams_counter_of_that_tag(redis_prefix):
    config = budgets({"name": "search-daily", "scope": "feature", "match": "search", "period": "daily",
                      "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix)
    await spend(guard, team("a", feature="search"), 1.0)

    team_a = await guard.check(team("a", feature="search"), 0.1)
    team_b = await guard.check(team("b", feature="search"), 0.1)

    assert team_a.action == "block" and "search@team:a" in team_a.message
    assert team_b.action == "allow" and team_b.states[0].spent_usd == 0
    assert team_b.states[0].label == "search-daily/search@team:b"
    assert (await guard.check(team("b", feature="other"), 0.1)).level == "unlimited"  # `match` reads the tag
    await client.aclose()


async def test_an_end_user_name_chosen_by_one_team_cannot_exhaust_the_same_name_in_another(clock):
    guard = BudgetGuard(budgets({"name": "per-user", "scope": "end_user", "limit_usd": 1, "action": "throttle"}),
                        InMemoryBudgetStore(clock.timestamp), clock)
    await spend(guard, team("a", end_user="alice"), 1.0)

    assert (await guard.check(team("a", end_user="alice"), 0.1)).action == "throttle"
    assert (await guard.check(team("b", end_user="alice"), 0.1)).action == "allow"


async def test_a_subject_without_an_owner_counts_its_claims_within_its_tenant(clock):
    guard = BudgetGuard(budgets({"name": "f", "scope": "feature", "limit_usd": 1, "action": "block"}),
                        InMemoryBudgetStore(clock.timestamp), clock)
    await spend(guard, BudgetSubject(tenant="team:a", feature="search"), 1.0)
    assert (await guard.check(BudgetSubject(tenant="team:b", feature="search"), 0.1)).allowed


# -- n and best_of: every answer is reserved -----------------------------------------------------------------------

def test_a_request_for_several_answers_reserves_each_of_them_once_and_the_prompt_once():
    assert [answer_count(5), answer_count(1, 3), answer_count(4, 2), answer_count()] == [5, 3, 4, 1]
    for sent in ("5", -2, 0, 2.5, True, {"n": 5}, None):  # the upstream refuses these: one answer reserved
        assert answer_count(sent) == 1
    assert answer_count(10**9) == MAX_ANSWERS

    five = estimate_cost_usd(100, 200, RATES, 1024, answers=5)

    assert five == pytest.approx(100 * 1e-6 + 5 * 200 * 1e-5)


# -- an absurd max_tokens is bounded, reserved and capped (real Redis) ---------------------------------------------

def test_a_max_tokens_beyond_the_ceiling_reserves_the_ceiling():
    estimate = estimate_cost_usd(10, 10**30, RATES, 1024, answers=MAX_ANSWERS, max_reserved_tokens=1000)
    assert estimate == pytest.approx(10 * 1e-6 + MAX_ANSWERS * 1000 * 1e-5)
    with pytest.raises(ValidationError, match=r"default_max_tokens \(4096\) is above max_reserved_tokens \(2048\)"):
        budgets(default_max_tokens=4096, max_reserved_tokens=2048)


async def test_an_estimate_too_large_for_the_counter_is_still_reserved_and_the_cap_still_applies(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix)
    acme = team("acme")

    huge = await guard.check(acme, 10**30 * 1e-5)  # max_tokens=10**30 at $10 per million tokens
    after = await guard.check(acme, 0.01)
    endless = await guard.check(team("other"), math.inf)

    assert huge.allowed and huge.degraded_reason is None and huge.reservation is not None
    assert after.action == "block" and after.degraded_reason is None  # the huge reservation holds the cap
    assert endless.allowed and endless.degraded_reason is None
    await guard.settle(huge, 0.02)
    assert (await guard.check(acme, 0.01)).allowed
    await client.aclose()


# -- costs an upstream got wrong settle as nothing -----------------------------------------------------------------

async def test_a_negative_or_unknown_cost_releases_the_reservation_and_spends_nothing(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1})
    guard, client = replica(config, redis_prefix)
    acme = team("acme")

    for reported in (-0.5, -math.inf, math.nan):  # e.g. an upstream reporting completion_tokens: -4000
        assert await guard.settle(await guard.check(acme, 0.3), reported) is None

    (state,) = await guard.states(acme)
    assert state.spent_usd == 0 and state.reserved_usd == 0
    await client.aclose()


# -- the store outage bound, per replica --------------------------------------------------------------------------

async def test_with_the_store_down_each_replica_spends_at_most_the_headroom_it_last_saw_even_if_the_store_flaps(
    redis_prefix,
):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    (first, client_a), (second, client_b) = replica(config, redis_prefix), replica(config, redis_prefix)
    acme, other = team("acme"), team("other")
    healthy = first.store
    await spend(first, acme, 0.5)  # the first replica last sees 0.5 committed
    await spend(second, acme, 0.1)  # the second one 0.6

    async def served_until_refused(guard: BudgetGuard) -> int:
        served = 0
        while (await spend(guard, acme, 0.1)).allowed:
            served += 1
        return served

    first.store = second.store = DownStore()
    during_outage = [await served_until_refused(first), await served_until_refused(second)]
    second.store = healthy  # Redis answers one check of another tenant, then fails again
    await second.check(other, 0.0)
    second.store = DownStore()
    after_the_flap = await served_until_refused(second)
    first.store = second.store = healthy
    await first.check(other, 0.0)

    (state,) = await first.states(acme)
    assert during_outage == [5, 4]  # each replica: the headroom it last saw (0.5, then 0.4), nothing more
    assert after_the_flap == 0
    # spent before + each replica's headroom = cap + (replicas - 1) x headroom + at most one request each
    assert state.spent_usd == pytest.approx(0.6 + 0.5 + 0.4) and state.reserved_usd == 0
    assert state.spent_usd <= 1.0 + (2 - 1) * 0.5 + 2 * 0.1
    assert (await first.check(acme, 0.1)).action == "block"
    await client_a.aclose()
    await client_b.aclose()


async def test_an_outage_hold_never_settled_stops_counting_after_the_reservation_ttl(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 0.2, "action": "block"},
                     reservation_ttl_s=0.2)
    guard, client = replica(config, redis_prefix)
    guard.store = DownStore()

    lost = await guard.check(team("acme"), 0.2)  # let through, then its replica lost track of it
    refused = await guard.check(team("acme"), 0.1)
    await asyncio.sleep(0.3)

    assert lost.level == "degraded" and refused.action == "block"
    assert (await guard.check(team("acme"), 0.1)).allowed
    await client.aclose()


# -- reservation ids: generated per check, never shared ------------------------------------------------------------

async def test_forty_concurrent_requests_under_a_one_dollar_block_cap_are_not_all_served(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix)

    decisions = await asyncio.gather(*(guard.check(team("acme"), 0.10, request_id=f"req-{n}") for n in range(40)))

    assert sum(d.allowed for d in decisions) == 10
    await client.aclose()


async def test_forty_concurrent_requests_reusing_one_request_id_are_each_counted(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix)

    decisions = await asyncio.gather(*(guard.check(team("acme"), 0.10, request_id="call-1") for _ in range(40)))

    assert sum(d.allowed for d in decisions) == 10
    await client.aclose()


async def test_two_checks_passing_the_same_request_id_hold_two_reservations(redis_prefix):
    config = budgets({"name": "acme", "scope": "tenant", "limit_usd": 1, "action": "block"})
    guard, client = replica(config, redis_prefix)
    acme = team("acme")

    first = await guard.check(acme, 0.6, request_id="call-1")
    again = await guard.check(acme, 0.6, request_id="call-1")  # e.g. a hook that ran twice
    (state,) = await guard.states(acme)
    third = await guard.check(acme, 0.1, request_id="call-2")

    assert first.reservation.id != again.reservation.id and first.reservation.id.startswith("call-1.")
    assert state.reserved_usd == pytest.approx(1.2)  # over-held until settled or lapsed, never under-counted
    assert third.action == "block"
    await guard.settle(first, 0.5)
    await guard.settle(again, 0.0)
    (state,) = await guard.states(acme)
    assert state.spent_usd == pytest.approx(0.5) and state.reserved_usd == 0
    await client.aclose()


# -- through the proxy adapter: estimates and streams -------------------------------------------------------------

class ModelList:
    """Stands in for LiteLLM's router: the deployments of each model group, as a proxy config's model_list."""

    def __init__(self, entries: list[dict]) -> None:
        self.entries = entries

    def get_model_list(self, model_name: str | None = None) -> list[dict]:
        return [entry for entry in self.entries if entry["model_name"] == model_name]


@pytest.fixture
def adapter(monkeypatch, clock):
    """The budget plugin on a runtime of its own, a proxy whose ``smart`` group is an auto-router over the tiers."""
    import litellm
    from litellm.proxy import proxy_server

    from costroute_plugins.config import parse_config
    from costroute_plugins.metrics import Metrics
    from costroute_plugins.proxy.budget_plugin import BudgetPlugin
    from costroute_plugins.spend.pricing import PriceBook

    monkeypatch.setattr(proxy_server, "llm_router", ModelList([
        {"model_name": "smart", "litellm_params": {"model": "auto_router/complexity_router"}},
        {"model_name": "premium", "litellm_params": {"model": "openai/premium-model"}},
    ]))
    config = parse_config({"budget": {"budgets": [
        {"name": "per-team", "scope": "team", "limit_usd": 100, "action": "block"},
        {"name": "search", "scope": "feature", "limit_usd": 1, "action": "block"},
    ]}})
    runtime = SimpleNamespace(
        config=config, prices=PriceBook({"premium": PREMIUM, "cheap": CHEAP}),
        guard=BudgetGuard(config.budget, InMemoryBudgetStore(clock.timestamp), clock),
        metrics=Metrics.create(CollectorRegistry()), budget_metrics=BudgetMetrics.create(CollectorRegistry()))
    plugin = BudgetPlugin(runtime)
    monkeypatch.setattr(litellm, "callbacks", [plugin])
    return plugin


def chat(**fields) -> dict:
    return {"model": "premium", "messages": [{"role": "user", "content": "Summarise the report."}], **fields}


def test_an_auto_router_group_not_named_auto_reserves_at_the_dearest_tier(adapter):
    assert adapter._estimate(chat(model="smart", max_tokens=1000)) == \
        pytest.approx(adapter._estimate(chat(max_tokens=1000)))
    assert adapter._estimate(chat(model="smart", max_tokens=1000)) >= 1000 * PREMIUM.output_usd_per_token


def test_n_answers_and_every_max_tokens_spelling_are_reserved(adapter):
    one = adapter._estimate(chat(max_tokens=100))

    assert adapter._estimate(chat(max_tokens=100, n=5)) - one == pytest.approx(4 * 100 * PREMIUM.output_usd_per_token)
    assert adapter._estimate(chat(max_tokens=100, max_completion_tokens=900)) - one == \
        pytest.approx(800 * PREMIUM.output_usd_per_token)
    ceiling = adapter.runtime.config.budget.max_reserved_tokens
    assert adapter._estimate(chat(max_tokens=10**30)) - one == \
        pytest.approx((ceiling - 100) * PREMIUM.output_usd_per_token)


def attached(identity, tags: dict[str, str] | None = None, **fields) -> tuple[dict, object]:
    """A chat request as the context plugin leaves it: its state filed in the authenticated metadata."""
    from costroute_plugins.proxy.request import RequestState, attach

    state = RequestState(identity=identity, tenant=identity.owner, route="acompletion", tags=tags or {})
    data = chat(**fields)
    attach(data, state)
    return data, state


async def test_the_adapter_counts_a_feature_tag_within_the_team_that_sent_it(adapter):
    from litellm.proxy._types import ProxyException, UserAPIKeyAuth

    from costroute_plugins.identity import Identity

    spent, state = attached(Identity(team="a"), {"feature": "search"}, max_tokens=10)
    await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, spent, "acompletion")
    await adapter.runtime.guard.settle(state.take_reservation(), 1.0)  # team a used up its search budget

    blocked, _ = attached(Identity(team="a"), {"feature": "search"}, max_tokens=10)
    with pytest.raises(ProxyException, match="search@team:a"):
        await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, blocked, "acompletion")
    served, state = attached(Identity(team="b"), {"feature": "search"}, max_tokens=10)
    await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, served, "acompletion")
    assert state.budget.action == "allow" and state.budget.level == "normal"


class HungUpClient:
    """A client that closes its connection while the upstream has not produced a first chunk yet."""

    async def receive(self) -> dict:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    async def is_disconnected(self) -> bool:
        return True


async def silent_upstream() -> AsyncIterator[str]:
    """An upstream that accepted the request and is still thinking (a long time to first token)."""
    await asyncio.Event().wait()
    yield "never sent"


@pytest.mark.parametrize("keepalive_s", [None, 5.0], ids=["no-keepalive", "keepalive-pings"])
async def test_a_stream_dropped_before_its_first_chunk_releases_its_reservation(adapter, monkeypatch, keepalive_s):
    import litellm
    from litellm.proxy import proxy_server
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.common_request_processing import create_response

    from costroute_plugins.identity import Identity

    monkeypatch.setattr(litellm, "sse_keepalive_ping_interval_seconds", keepalive_s)
    data, state = attached(Identity(team="a"), stream=True, max_tokens=10_000)
    await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, data, "acompletion")
    held = await adapter.runtime.guard.states(BudgetSubject(tenant="team:a", team="a"))
    monkeypatch.setattr(proxy_server, "llm_router", None)  # reserved: the stream itself reads no model groups

    # what LiteLLM's /chat/completions does with a stream: its SSE generator, first chunk buffered
    generator = proxy_server.async_data_generator(response=silent_upstream(), user_api_key_dict=UserAPIKeyAuth(),
                                                  request_data=data, request=HungUpClient())
    answer = await create_response(generator, "text/event-stream", {}, request=HungUpClient())

    (after,) = await adapter.runtime.guard.states(BudgetSubject(tenant="team:a", team="a"))
    assert answer.status_code == 499  # LiteLLM's "client closed request"
    assert held[0].reserved_usd > 0.05 and after.reserved_usd == 0 and after.spent_usd == 0
    assert state.take_reservation() is None  # nothing left for a late success or failure event to settle twice


async def test_a_stream_dropped_after_its_first_chunk_keeps_its_reservation_for_the_partial_bill(adapter):
    from litellm.proxy._types import UserAPIKeyAuth

    from costroute_plugins.identity import Identity

    async def one_chunk_then_silence() -> AsyncIterator[str]:
        yield "first"
        await asyncio.Event().wait()

    data, state = attached(Identity(team="a"), stream=True, max_tokens=10_000)
    await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, data, "acompletion")
    stream = adapter.async_post_call_streaming_iterator_hook(UserAPIKeyAuth(), one_chunk_then_silence(), data)

    assert await stream.__anext__() == "first"
    await stream.aclose()  # the client hung up: LiteLLM bills the partial answer through its success event

    assert state.take_reservation() is not None


async def test_a_stream_that_completes_passes_through_unchanged_and_is_settled_by_its_success_event(adapter):
    from litellm.proxy._types import UserAPIKeyAuth

    from costroute_plugins.identity import Identity

    async def answer() -> AsyncIterator[str]:
        for chunk in ("Par", "is", "."):
            yield chunk

    data, state = attached(Identity(team="a"), stream=True, max_tokens=100)
    await adapter.async_pre_call_hook(UserAPIKeyAuth(), None, data, "acompletion")

    stream = adapter.async_post_call_streaming_iterator_hook(UserAPIKeyAuth(), answer(), data)
    chunks = [chunk async for chunk in stream]

    assert chunks == ["Par", "is", "."] and state.take_reservation() is not None
