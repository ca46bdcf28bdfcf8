"""A would-be semantic hit of the cache's shadow mode is audited with the answer the client got as its reference:
only the judge is paid for, and the verdict counts for the cache's estimate, never for the tenant's (the tenant
got the fresh answer, not the graded cached one)."""

from __future__ import annotations

import asyncio

from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.estimate import CACHE_HITS, QualityKey
from tests.quality.test_runner import QUESTION, judge_by_tier, runner

CACHED = "[premium] Paris."  # the answer a live cache would have served
FRESH = "[cheap] Paris."  # the answer upstream gave the client


def shadow_audit(n: int = 0) -> Audit:
    return Audit(f"req-{n}", "team:a", "cache", None, "cheap", QUESTION, CACHED, reference_answer=FRESH, shadow=True)


def test_a_shadow_audit_asks_only_the_judge():
    asked: list[str] = []
    judge = judge_by_tier({"cheap": 6, "premium": 9})

    async def ask(audit, group, messages, max_tokens, temperature):
        asked.append(group)
        return await judge(audit, group, messages, max_tokens, temperature)

    audits = runner(ask)
    outcome = asyncio.run(audits.run(shadow_audit()))

    assert asked == ["premium", "premium"]  # the judge, twice (served and reference graded apart); no reference call
    assert (outcome.verdict.served_rating, outcome.verdict.reference_rating) == (9, 6)
    assert outcome.cost_usd == 2 * 0.002 and outcome.shadow


def test_a_shadow_audit_counts_for_the_cache_and_not_for_the_tenant():
    audits = runner(judge_by_tier({"cheap": 6, "premium": 9}))

    for n in range(2):
        asyncio.run(audits.run(shadow_audit(n)))

    assert audits.estimates.stats(CACHE_HITS).audits == 2
    assert audits.estimates.stats(QualityKey("tenant", "team:a")) is None
    assert audits.metrics.audits.labels("cache", "judged")._value.get() == 2


def test_a_shadow_audit_is_priced_without_a_reference_call():
    audits = runner(judge_by_tier({"cheap": 6, "premium": 9}))
    fetched = Audit("req-0", "team:a", "cache", None, "cheap", QUESTION, CACHED)

    assert audits.estimate_usd(shadow_audit()) < audits.estimate_usd(fetched)
