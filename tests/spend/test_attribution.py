"""What a finished request is billed and credited with, as the spend plugin works it out from LiteLLM's report."""

from __future__ import annotations

from decimal import Decimal

import pytest

from costroute_plugins.identity import Identity
from costroute_plugins.spend.attribution import UNATTRIBUTED, FinishedCall, Payer, attribute
from costroute_plugins.spend.pricing import PriceBook, TokenRates

CHEAP = TokenRates(input_usd_per_token=1e-7, output_usd_per_token=1e-6)
PRICES = PriceBook({"cheap": CHEAP})
TIERS = ("cheap", "balanced", "premium")
ACME = Payer(request_id="req-1", tenant="team:acme", identity=Identity(team="acme", key="a" * 64),
             tags={"feature": "search", "experiment": "exp-7", "variant": "b"}, budget_state="warning")


def test_a_cache_hit_costs_nothing_and_saves_what_litellm_priced_the_call_at():
    hit = FinishedCall(model="gpt-4o", group="premium", prompt_tokens=900, completion_tokens=300, cache_hit=True,
                       response_cost=0.0, saved_cache_cost=0.0042)

    outcome = attribute(hit, ACME, None, PRICES, TIERS)

    assert outcome.cost_usd == 0.0 and outcome.cache_saving_usd == pytest.approx(0.0042)
    assert outcome.record.cost_usd == 0 and outcome.record.cache_saving_usd == Decimal("0.0042")
    assert outcome.record.cache_hit and outcome.record.decision == "cache_hit"


def test_a_miss_saves_nothing_from_the_cache_even_when_litellm_names_a_saving():
    miss = FinishedCall(model="gpt-4o", group="premium", prompt_tokens=10, completion_tokens=5, response_cost=0.001,
                        saved_cache_cost=0.5)

    outcome = attribute(miss, ACME, None, PRICES, TIERS)

    assert outcome.cost_usd == pytest.approx(0.001) and outcome.cache_saving_usd == 0.0
    assert outcome.record.decision == "requested" and outcome.record.tier == "premium"


def test_the_self_hosted_tier_is_billed_at_its_gpu_rates_and_the_router_saves_premium_minus_that():
    routed = FinishedCall(model="hosted_vllm/smollm2", deployment="dep-1", group="cheap", prompt_tokens=1200,
                          completion_tokens=400, response_cost=0.0, autorouter_savings=0.0056,
                          routing_decision={"tier": "cheap", "cause": "router: cheap"})

    outcome = attribute(routed, ACME, None, PRICES, TIERS)

    cost = CHEAP.cost(1200, 400)
    assert outcome.cost_usd == pytest.approx(cost) and outcome.routing_saving_usd == pytest.approx(0.0056 - cost)
    assert outcome.saving_usd == pytest.approx(0.0056 - cost) and not outcome.audit
    record = outcome.record
    assert (record.request_id, record.tenant, record.tier, record.decision) == ("req-1", "team:acme", "cheap",
                                                                                 "router: cheap")
    assert (record.team, record.key, record.feature, record.experiment, record.variant) == (
        "acme", "a" * 12, "search", "exp-7", "b")
    assert (record.model, record.deployment, record.budget_state) == ("hosted_vllm/smollm2", "dep-1", "warning")


def test_an_audit_call_is_billed_to_the_audited_tenant_in_its_own_category_and_saves_nothing():
    audit = FinishedCall(model="gpt-4o", group="premium", prompt_tokens=500, completion_tokens=200,
                         response_cost=0.003, autorouter_savings=0.01)

    outcome = attribute(audit, None, "team:globex", PRICES, TIERS)

    assert outcome.audit and outcome.record.tenant == "team:globex" and outcome.record.decision == "audit"
    assert outcome.cost_usd == pytest.approx(0.003)
    assert outcome.saving_usd == 0.0 and outcome.record.routing_saving_usd == 0


def test_a_request_costroute_has_no_state_for_is_unattributed_under_an_id_of_its_own():
    call = FinishedCall(model="gpt-4o", prompt_tokens=1, completion_tokens=1, response_cost=0.0001)

    first, second = (attribute(call, None, None, PRICES, TIERS).record for _ in range(2))

    assert first.tenant == UNATTRIBUTED and first.team is None and first.feature is None
    assert len(first.request_id) == 32 and first.request_id != second.request_id
    assert first.tier == "other"


def test_nonsense_token_counts_are_priced_as_corrected_and_the_row_is_flagged():
    odd = FinishedCall(model="hosted_vllm/smollm2", group="cheap", prompt_tokens=12.6, completion_tokens=-3,
                       cached_tokens="lots")

    outcome = attribute(odd, ACME, None, PRICES, TIERS)

    assert outcome.cost_usd == pytest.approx(CHEAP.cost(13, 0, 0))
    assert (outcome.record.prompt_tokens, outcome.record.completion_tokens, outcome.record.cached_tokens) == (13, 0, 0)
    assert outcome.record.tokens_adjusted
