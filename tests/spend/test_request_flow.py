"""One request through what the proxy adapter does: budget check before the call, then cost, settle, record."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from costroute_plugins.budget import BudgetsConfig, BudgetSubject, build_guard, estimate_cost_usd
from costroute_plugins.spend import AttributionRecord, PriceBook, SpendLedger, TokenRates
from tests.budget.conftest import REDIS_URL
from tests.spend.conftest import POSTGRES_DSN, ledger_config

PREMIUM = TokenRates(input_usd_per_token=2e-6, output_usd_per_token=8e-6)
CHEAP = TokenRates(input_usd_per_token=1.169444e-07, output_usd_per_token=1.169444e-06)


async def test_a_request_is_reserved_settled_at_its_real_cost_and_recorded(redis_prefix, pg_schema, tmp_path):
    budgets = BudgetsConfig.model_validate({"key_prefix": redis_prefix, "budgets": [
        {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 5}]})
    guard = build_guard(budgets, REDIS_URL)
    prices = PriceBook({"cheap": CHEAP})
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    await ledger.start()
    subject = BudgetSubject(tenant="team:acme", team="acme", feature="search")

    # pre-call: `model: auto`, tier unknown yet, so reserve at premium rates
    decision = await guard.check(subject, estimate_cost_usd(1200, 400, PREMIUM, 1024), request_id="call-1")
    assert decision.action == "allow"
    # success: the router sent it to the vLLM tier; LiteLLM reports $0 and a routing saving of $0.0056
    cost = prices.cost(("hosted_vllm/smollm2", "cheap"), 1200, 400, 0, reported_usd=0.0)
    saving = prices.routing_saving(0.0056, 0.0, cost)
    assert await guard.settle(decision, cost) is None
    ledger.submit(AttributionRecord(
        request_id="call-1", tenant=subject.tenant, team=subject.team, feature=subject.feature, tier="cheap",
        model="hosted_vllm/smollm2", prompt_tokens=1200, completion_tokens=400, cost_usd=cost,
        routing_saving_usd=saving, decision="router: cheap", budget_state=decision.state_label))
    await ledger.close()

    (state,) = await guard.states(subject)
    assert state.reserved_usd == 0 and abs(state.spent_usd - cost) < 1e-9
    with psycopg.connect(POSTGRES_DSN) as connection:
        stored = connection.execute(
            f'SELECT cost_usd, routing_saving_usd, budget_state FROM "{pg_schema}".costroute_spend').fetchone()
    assert stored == (Decimal(repr(cost)).quantize(Decimal("1e-10")),
                      Decimal(repr(saving)).quantize(Decimal("1e-10")), "normal")
    await guard.close()
