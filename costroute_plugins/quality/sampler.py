"""Which requests are audited, and what kind of audit each gets.

The decision is a hash of costroute's own request id (made server-side, never taken from the client) with a
salt, read as a number in [0, 1) and compared with the sample rate. So every replica that sees a request makes
the same decision without sharing state, a retried decision cannot change its mind, and a client cannot steer
its requests into or out of the audit. The same construction as ``routing.policy.in_holdout``, under a different
salt, so audited and held-out requests are independent samples.

Only answers that may have cost quality are audited:
- a request served below the top tier (``routed``): its top-tier answer is the reference;
- a semantic (non-exact) cache hit (``cache``): a fresh top-tier answer is the reference, so the cache's estimate
  is on the same scale as the routed ones (share of top-tier quality), and wrong hits show as failing answers.
An exact hit replays the answer to the same prompt; a top-tier or held-out answer is the reference itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from costroute_plugins.messages import Message, content_text
from costroute_plugins.quality.config import QualityConfig

AuditKind = Literal["routed", "cache"]
CacheHit = Literal["exact", "semantic"]
# Why a request is or is not audited: a bounded set, fit for a metric label.
SampleReason = Literal["sampled", "disabled", "not_routed", "exact_hit", "holdout", "top_tier", "not_sampled",
                       "too_large"]


def unit_hash(request_id: str, salt: str) -> float:
    """``request_id`` mapped to [0, 1), uniformly for random ids, the same on every replica."""
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def eligibility(served_tier: str | None, tiers: Sequence[str], cache_hit: CacheHit | None,
                holdout: bool) -> AuditKind | SampleReason:
    """The audit a request's answer calls for, or why it calls for none. ``served_tier``: the tier that
    answered a ``model: auto`` request (None, or a name outside ``tiers``: costroute did not route it)."""
    if cache_hit == "semantic":
        return "cache"
    if cache_hit == "exact":
        return "exact_hit"
    if served_tier is None or served_tier not in tiers:
        return "not_routed"
    if holdout:
        return "holdout"
    if served_tier == tiers[-1]:
        return "top_tier"
    return "routed"


def prompt_chars(messages: Sequence[Message]) -> int:
    """Characters of text in the prompt: what ``max_prompt_chars`` bounds (the judge reads it twice)."""
    return sum(len(content_text(message.get("content"))) for message in messages)


@dataclass(frozen=True)
class SampleDecision:
    """``kind`` and ``reference_tier`` are set exactly when the request is audited (``reason == 'sampled'``)."""

    reason: SampleReason
    kind: AuditKind | None = None
    reference_tier: str | None = None

    @property
    def audit(self) -> bool:
        return self.kind is not None


class AuditSampler:
    """Decides, per request, whether to audit its answer; stateless, so one per process is enough."""

    def __init__(self, config: QualityConfig, tiers: Sequence[str]) -> None:
        if not tiers:
            raise ValueError("AuditSampler needs the tiers, cheapest first")
        self.config = config
        self.tiers = tuple(tiers)

    def decide(self, request_id: str, *, served_tier: str | None, cache_hit: CacheHit | None, holdout: bool,
               messages: Sequence[Message]) -> SampleDecision:
        """Audit this answer? Cheap checks first: the prompt is measured only for a sampled request."""
        if not self.config.enabled:
            return SampleDecision("disabled")
        kind = eligibility(served_tier, self.tiers, cache_hit, holdout)
        if kind == "routed":
            rate = self.config.routed_sample_rate
        elif kind == "cache":
            rate = self.config.cache_sample_rate
        else:
            return SampleDecision(kind)
        if not request_id or unit_hash(request_id, self.config.sample_salt) >= rate:
            return SampleDecision("not_sampled")
        if prompt_chars(messages) > self.config.max_prompt_chars:
            return SampleDecision("too_large")
        return SampleDecision("sampled", kind, self.tiers[-1])
