"""An audit from start to end with stand-in model calls: admitted under the cap or skipped, graded, settled at
what it really cost, and recorded; a failing call or a judge that says nothing never raises."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from costroute_plugins.budget import InMemoryBudgetStore
from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.daily import DailyTotal
from costroute_plugins.quality.estimate import QualityEstimates, QualityKey
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.runner import AuditRunner, Reply
from costroute_plugins.quality.spend_cap import AuditSpendGovernor

CONFIG = QualityConfig(enabled=True, min_audits=2, max_usd_per_day=1.0, max_share_of_savings=0.5)
QUESTION = ({"role": "user", "content": "What is the capital of France?"},)


def runner(ask, savings_usd: float = 10.0, config: QualityConfig = CONFIG) -> AuditRunner:
    savings = DailyTotal()
    savings.add(savings_usd)
    return AuditRunner(config, AuditSpendGovernor(config, InMemoryBudgetStore()), QualityEstimates.from_config(config),
                       savings, QualityMetrics.create(CollectorRegistry()), ask, lambda group, p, c: 1e-6 * (p + c))


def audit(n: int = 0) -> Audit:
    return Audit(f"req-{n}", "team:a", "routed", "cheap", "premium", QUESTION, "[cheap] Paris.")


def judge_by_tier(ratings: dict[str, int]):
    async def ask(audit: Audit, group: str, messages, max_tokens: int, temperature) -> Reply:
        text = messages[-1]["content"]
        if "impartial judge" not in text:
            return Reply("[premium] Paris, on the Seine.", 0.01)
        tier = "cheap" if "[cheap]" in text else "premium"
        return Reply(f"Fine. Rating: [[{ratings[tier]}]]", 0.002)
    return ask


def test_an_audit_grades_the_served_answer_against_the_top_tier_and_costs_what_its_calls_cost():
    audits = runner(judge_by_tier({"cheap": 6, "premium": 9}))

    outcomes = [asyncio.run(audits.run(audit(n))) for n in range(2)]

    assert all(o.verdict.served_rating == 6 and o.verdict.reference_rating == 9 for o in outcomes)
    assert outcomes[0].cost_usd == 0.01 + 2 * 0.002
    assert audits.estimates.quality(QualityKey("tier", "cheap")).value == 6 / 9
    assert asyncio.run(audits.governor.spent_today()) == sum(o.cost_usd for o in outcomes)


def test_no_savings_today_means_no_audit():
    audits = runner(judge_by_tier({"cheap": 6, "premium": 9}), savings_usd=0.0)

    assert asyncio.run(audits.run(audit())) is None
    assert audits.metrics.audits.labels("routed", "capped")._value.get() == 1


def test_a_failing_reference_call_is_counted_and_spends_nothing():
    async def failing(audit, group, messages, max_tokens, temperature) -> Reply:
        raise TimeoutError("upstream timed out")

    audits = runner(failing)
    outcome = asyncio.run(audits.run(audit()))

    assert outcome.verdict is None and "reference call failed" in outcome.problem
    assert audits.metrics.audits.labels("routed", "failed")._value.get() == 1
    assert asyncio.run(audits.governor.spent_today()) == 0


def test_a_judge_that_gives_no_rating_is_an_audit_without_verdict():
    async def mumbling(audit, group, messages, max_tokens, temperature) -> Reply:
        return Reply("I would rather not say.", 0.001)

    audits = runner(mumbling)
    outcome = asyncio.run(audits.run(audit()))

    assert outcome.verdict is None and outcome.cost_usd == 0.003
    assert audits.metrics.audits.labels("routed", "no_verdict")._value.get() == 1


def test_savings_restart_at_midnight_utc():
    now = [datetime(2026, 12, 4, 23, 59, tzinfo=UTC)]
    savings = DailyTotal(clock=lambda: now[0])
    savings.add(2.0)
    savings.add(-5.0)  # never negative
    assert savings.today() == 2.0
    now[0] += timedelta(minutes=2)
    assert savings.today() == 0.0
