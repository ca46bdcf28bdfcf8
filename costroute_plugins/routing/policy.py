"""Operator policy around the classifier's choice: premium tenants, per-task minimum tiers, latency fit, and
the A/B holdout that measures what routing costs in quality.

Order of precedence, first match wins: a budget at its cap (``downgrade``), a premium tenant, the holdout;
otherwise the classifier decides and the floors (task minimum, feedback escalation) and the latency hint
adjust its choice. Every step says what it did in the decision's reason, which reaches the spend log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field, field_validator

from costroute_plugins.routing.feedback import FeedbackSettings
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.routing.router import Decision

_TENANT = re.compile(r"^(team|key|end_user|org):.+$")


class RoutePolicy(BaseModel):
    """Settings under ``costroute.routing`` besides the classifier's own; tier names are checked against
    ``costroute.tiers`` by ``policy_problems`` once the tiers are known."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    premium_tenants: list[str] = Field(
        default_factory=list, description="tenants (as named by tenant_from, e.g. 'team:acme') that always get the "
                                          "top tier for model auto")
    task_min_tier: dict[str, str] = Field(
        default_factory=dict, description="request metadata 'task' -> the cheapest tier that may serve it")
    tier_latency_ms: dict[str, float] = Field(
        default_factory=dict, description="expected latency per tier until enough requests were observed")
    holdout_fraction: float = Field(
        0.0, ge=0.0, le=0.5, description="share of auto requests always served by the top tier, for comparison")
    holdout_salt: str = Field("costroute-holdout", min_length=1, description="changes which requests are held out")
    feedback: FeedbackSettings = Field(default_factory=FeedbackSettings)

    @field_validator("premium_tenants")
    @classmethod
    def _tenants_are_identities(cls, tenants: list[str]) -> list[str]:
        wrong = [tenant for tenant in tenants if not _TENANT.match(tenant)]
        if wrong:
            raise ValueError(f"{wrong}: name each tenant as '<team|key|end_user|org>:<id>', e.g. 'team:acme' "
                             "(the same names costroute logs as costroute_tenant)")
        return tenants

    @field_validator("task_min_tier")
    @classmethod
    def _tasks_are_lowercase(cls, tasks: dict[str, str]) -> dict[str, str]:
        return {task.strip().lower(): tier for task, tier in tasks.items()}

    @field_validator("tier_latency_ms")
    @classmethod
    def _latencies_are_positive(cls, latencies: dict[str, float]) -> dict[str, float]:
        wrong = {tier: ms for tier, ms in latencies.items() if not ms > 0}
        if wrong:
            raise ValueError(f"{wrong}: latencies are positive milliseconds")
        return latencies


def policy_problems(policy: RoutePolicy, tiers: Sequence[str]) -> list[str]:
    """Tier names in the policy that are not tiers, as messages naming the key and the fix."""
    problems = [f"routing.task_min_tier.{task}: {tier!r} is not one of tiers {list(tiers)}"
                for task, tier in policy.task_min_tier.items() if tier not in tiers]
    problems += [f"routing.tier_latency_ms.{tier}: not one of tiers {list(tiers)}"
                 for tier in policy.tier_latency_ms if tier not in tiers]
    return problems


def in_holdout(request_id: str, fraction: float, salt: str) -> bool:
    """Deterministic per request id: the same id is always in or always out, whichever replica sees it."""
    if fraction <= 0.0 or not request_id:
        return False
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class Adjustment:
    """Floors and preferences applied after the classifier: each may only move the tier as documented."""

    tiers: Sequence[str]

    def raise_to(self, decision: Decision, floor: str | None, why: str) -> Decision:
        """At least ``floor``; a decision already at or above it is unchanged."""
        if floor is None or self.tiers.index(floor) <= self.tiers.index(decision.tier):
            return decision
        return replace(decision, tier=floor, reason=f"{decision.reason}; raised to {floor}: {why}")

    def fit_latency(self, decision: Decision, max_latency_ms: float, latency: TierLatency, floor: str | None
                    ) -> Decision:
        """The tier nearest the decision whose expected latency fits, never below ``floor``; the dearer one of
        two equally near. When none fits, the decision stands and the reason says so."""
        chosen = self.tiers.index(decision.tier)
        lowest = self.tiers.index(floor) if floor else 0
        fitting = [i for i in range(lowest, len(self.tiers)) if latency.fits(self.tiers[i], max_latency_ms)]
        if chosen in fitting:
            return decision
        if not fitting:
            return replace(decision, reason=f"{decision.reason}; no tier fits max_latency_ms {max_latency_ms:g}")
        best = min(fitting, key=lambda i: (abs(i - chosen), -i))
        expected = latency.expected_ms(self.tiers[chosen])
        return replace(decision, tier=self.tiers[best],
                       reason=f"{decision.reason}; moved to {self.tiers[best]}: {decision.tier} takes ~"
                              f"{expected:.0f} ms > max_latency_ms {max_latency_ms:g}")


def higher(tiers: Sequence[str], *candidates: str | None) -> str | None:
    """The dearest of the given tiers (``None`` entries ignored)."""
    present = [tier for tier in candidates if tier is not None]
    return max(present, key=tiers.index) if present else None
