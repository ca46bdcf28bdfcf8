"""One audit from start to end: admit it under the spend cap, fetch the reference, have the judge grade, record.
A shadow-mode cache audit brings its reference (the fresh answer the client got), so only the judge is called.

Runs after the client has its answer, as a background task the adapter starts; nothing here can fail the
client's request. Calls go through ``Ask``, which the adapter implements with LiteLLM's router (so each call is
priced, logged and lands in the ledger as audit spend); this module never imports LiteLLM.

Cost control: before any call the audit's cost is estimated as an upper bound (every answer priced at its
``max_tokens``) and reserved on the day's audit counter (``spend_cap``); afterwards the reservation is settled
with what the calls really cost, verdict or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from costroute_plugins.messages import Message, content_text
from costroute_plugins.quality.audit import Audit, AuditOutcome
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.daily import DailyTotal
from costroute_plugins.quality.estimate import QualityEstimates
from costroute_plugins.quality.judge import JUDGE_MAX_TOKENS, Grading
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.spend_cap import AuditSpendGovernor

log = logging.getLogger("costroute")

#: The reference answer's token cap: long enough for a full answer, and what its cost estimate assumes.
REFERENCE_MAX_TOKENS = 1024
CHARS_PER_TOKEN = 4  # a generous upper bound for English; only the estimate uses it


@dataclass(frozen=True)
class Reply:
    """One model call's answer text (None: no usable answer) and what it cost, USD."""

    text: str | None
    cost_usd: float


#: (the audit it is for, model group, messages, max_tokens, temperature) -> the reply. Raises on a failed call.
Ask = Callable[[Audit, str, Sequence[Message], int, float | None], Awaitable[Reply]]
#: (model group, prompt tokens, completion tokens) -> USD at the group's dearest deployment.
Price = Callable[[str, int, int], float]


def _tokens(texts: Sequence[str]) -> int:
    return sum(len(text) for text in texts) // CHARS_PER_TOKEN + 16


@dataclass
class AuditRunner:
    config: QualityConfig
    governor: AuditSpendGovernor
    estimates: QualityEstimates
    savings: DailyTotal
    metrics: QualityMetrics
    ask: Ask
    price: Price
    #: Called with each audit that reached the judge stage, verdict or not (the records file).
    keep: Callable[[Audit], None] | None = None

    def estimate_usd(self, audit: Audit) -> float:
        """An upper bound of the audit's cost: the reference at its cap (nothing when the audit came with it),
        each judge call reading the question and both answers at their caps."""
        question = [content_text(message.get("content")) for message in audit.messages]
        prompt = _tokens(question)
        if audit.reference_answer is None:
            reference = self.price(audit.reference_tier, prompt, REFERENCE_MAX_TOKENS)
            reference_tokens = REFERENCE_MAX_TOKENS
        else:
            reference, reference_tokens = 0.0, _tokens([audit.reference_answer])
        judge_prompt = prompt + _tokens([audit.served_answer]) + reference_tokens + 300  # + the instructions
        calls = 2  # single: served and reference graded apart; pairwise: both orders
        return reference + calls * self.price(self.config.judge, judge_prompt, JUDGE_MAX_TOKENS)

    async def run(self, audit: Audit) -> AuditOutcome | None:
        """The audit's outcome, recorded in the estimates and metrics; None when the cap or the store said no."""
        try:
            check, reservation = await self.governor.reserve(self.estimate_usd(audit), self.savings.today(),
                                                             audit.request_id)
        except Exception as error:  # the shared counter is unreachable: spending without it could pass the cap
            log.warning("quality audit skipped: audit spend counter unavailable (%s)", type(error).__name__)
            self.metrics.audits.labels(audit.kind, "store_down").inc()
            return None
        if reservation is None:
            self.metrics.audits.labels(audit.kind, "capped").inc()
            log.debug("quality audit skipped: %s", check.reason)
            return None
        try:
            audit = await self._judged(audit)
        finally:
            self.metrics.spend_usd.inc(audit.cost_usd)
            try:
                await self.governor.settle(reservation, audit.cost_usd)
            except Exception as error:  # the hold lapses after its TTL
                log.warning("quality audit: could not settle its spend (%s)", type(error).__name__)
        if self.keep is not None:
            try:
                self.keep(audit)
            except OSError as error:
                log.warning("quality audit %s: could not be kept (%s)", audit.request_id, error)
        outcome = audit.outcome()
        self.estimates.record(outcome)
        self.metrics.audits.labels(audit.kind, "judged" if outcome.verdict is not None else
                                   ("failed" if audit.reference_answer is None else "no_verdict")).inc()
        self.metrics.refresh(self.estimates, self.config.target)
        return outcome

    async def _referenced(self, audit: Audit) -> Audit:
        """The audit with the reference tier's answer, or with the problem that left it without one."""
        try:
            reference = await self.ask(audit, audit.reference_tier, audit.messages, REFERENCE_MAX_TOKENS, None)
        except Exception as error:
            return replace(audit, problem=f"reference call failed: {type(error).__name__}")
        audit = replace(audit, reference_cost_usd=reference.cost_usd)
        if not reference.text:
            return replace(audit, problem="reference answer empty")
        return replace(audit, reference_answer=reference.text)

    async def _judged(self, audit: Audit) -> Audit:
        if audit.reference_answer is None:  # a shadow-mode cache audit comes with the answer the client got
            audit = await self._referenced(audit)
        if audit.reference_answer is None:
            return audit
        grading = Grading.for_audit(audit.kind, self.config.method, audit.messages, audit.served_answer,
                                    audit.reference_answer)
        replies = await asyncio.gather(*(self.ask(audit, self.config.judge, call.messages, call.max_tokens,
                                                  call.temperature) for call in grading.calls),
                                       return_exceptions=True)
        judged = [reply for reply in replies if isinstance(reply, Reply)]
        cost = sum(reply.cost_usd for reply in judged)
        verdict = grading.verdict([reply.text if isinstance(reply, Reply) else None for reply in replies])
        return replace(audit, judge_cost_usd=cost, verdict=verdict,
                       problem=None if verdict is not None else "no verdict from the judge")
