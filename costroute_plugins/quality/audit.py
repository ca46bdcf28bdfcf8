"""One audit's record, what the estimates take from it, and what of it may be stored.

An audit holds a user's prompt and two answers to it. Whatever the cache would refuse to store (personal data,
credentials: the cache's admission check in ``cache/pii.py``, the same detectors and the same verdict) an audit
must not store either, so ``Audit.storable`` is the only way to a storable form: the numbers always (tiers,
ratings, costs), the texts only when every one of them passes. One failing text withholds them all, as the cache
refuses a whole entry: an answer echoes its prompt, so a prompt's secret may sit in any of them.

``AuditOutcome`` is the text-free part that estimates, metrics and the ledger consume; it may be logged and
shared (Redis) freely.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from costroute_plugins.cache import pii
from costroute_plugins.cache.admission import response_texts
from costroute_plugins.messages import Message
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.quality.sampler import AuditKind

AUDIT_SCHEMA = 1
SecretFinder = Callable[[str], str | None]


def first_secret(text: str) -> str | None:
    """The kind of personal data or credential found first in ``text`` by the cache's built-in detectors. With
    the cache configured, pass its ``AdmissionPolicy.secret_in`` instead, so the operator's own patterns apply."""
    return next((name for name, _match in pii.found_in(text)), None)


@dataclass(frozen=True)
class AuditOutcome:
    """What an audit found, without its texts. ``verdict`` None: no estimate from it (``problem`` says why);
    ``cost_usd``: what it spent (reference and judge calls), to subtract from the savings either way;
    ``shadow``: a would-be cache hit of shadow mode, whose cached answer the tenant never received."""

    request_id: str
    tenant: str
    kind: AuditKind
    served_tier: str | None
    verdict: Verdict | None
    cost_usd: float
    problem: str | None = None
    shadow: bool = False


@dataclass(frozen=True)
class Audit:
    """A sampled request's audit, filled in as it runs (``dataclasses.replace``): the reference answer, then the
    verdict, each with its cost. ``served_tier``: the tier that answered (for a cache hit, the tier of the cached
    answer when known); ``reference_tier``: the tier asked for the reference answer.

    ``shadow``: a would-be semantic hit of the cache's shadow mode (``cache/shadow.py``). ``served_answer`` is then
    the cached answer a live cache would have served, and the audit starts with ``reference_answer`` set: the fresh
    answer the client got from ``reference_tier``, so no reference call is made."""

    request_id: str
    tenant: str
    kind: AuditKind
    served_tier: str | None
    reference_tier: str
    messages: tuple[Message, ...]
    served_answer: str
    reference_answer: str | None = None
    verdict: Verdict | None = None
    reference_cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    problem: str | None = None
    shadow: bool = False

    @property
    def cost_usd(self) -> float:
        return self.reference_cost_usd + self.judge_cost_usd

    def outcome(self) -> AuditOutcome:
        problem = self.problem if self.verdict is None else None
        if self.verdict is None and problem is None:
            problem = "no verdict"
        return AuditOutcome(self.request_id, self.tenant, self.kind, self.served_tier, self.verdict, self.cost_usd,
                            problem, self.shadow)

    def texts(self) -> Iterator[tuple[str, str]]:
        """(what, text) for every text the record holds: prompt messages, answers, judge replies, the problem."""
        for message in self.messages:
            yield "prompt", "\n".join(response_texts(message))
        yield "served answer", self.served_answer
        if self.reference_answer is not None:
            yield "reference answer", self.reference_answer
        for reply in self.verdict.replies if self.verdict else ():
            yield "judge reply", reply
        if self.problem is not None:
            yield "problem", self.problem

    def withheld_because(self, secret_in: SecretFinder = first_secret) -> str | None:
        """Why the texts may not be stored (``"prompt contains email"``), or None when all of them may."""
        return next((f"{label} contains {found}" for label, text in self.texts() if (found := secret_in(text))),
                    None)

    def storable(self, secret_in: SecretFinder = first_secret) -> dict[str, Any]:
        """The record as JSON-ready data: the numbers always, the texts only when none holds data the cache
        would refuse (then ``texts_withheld`` says why)."""
        verdict = self.verdict
        record: dict[str, Any] = {
            "schema": AUDIT_SCHEMA, "request_id": self.request_id, "tenant": self.tenant, "kind": self.kind,
            "served_tier": self.served_tier, "reference_tier": self.reference_tier,
            "reference_cost_usd": self.reference_cost_usd, "judge_cost_usd": self.judge_cost_usd,
            "method": verdict.method if verdict else None,
            "served_rating": verdict.served_rating if verdict else None,
            "reference_rating": verdict.reference_rating if verdict else None,
            "preference": verdict.preference if verdict else None, "shadow": self.shadow,
        }
        withheld = self.withheld_because(secret_in)
        if withheld is not None:
            return {**record, "texts_withheld": withheld}
        return {**record, "texts_withheld": None, "messages": [dict(message) for message in self.messages],
                "served_answer": self.served_answer, "reference_answer": self.reference_answer,
                "judge_replies": list(verdict.replies) if verdict else [], "problem": self.problem}
