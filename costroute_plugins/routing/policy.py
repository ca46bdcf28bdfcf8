"""Operator policy around the classifier's choice: the order in which budget, tenant, caller and operator
decide the tier of a ``model: auto`` request, as pure functions of settings and request facts.

Order of precedence, first match wins:

1. a budget at its cap with action ``downgrade`` serves the tier it forces, whatever the router or the mode;
2. a premium tenant gets the top tier (never held out);
3. otherwise the classifier decides under the caller's ``required_quality`` and the budget's relaxation, then
   the floors raise it (the task's minimum tier, a thumbs-down escalation) and a latency hint moves it to the
   nearest tier that fits, never below those floors;
4. the mode then says what is served: ``enforce`` serves the decision, the A/B holdout (in ``enforce``) the top
   tier, ``shadow`` the ``baseline_tier``; the decision is recorded either way.

Every step says what it did in the decision's reason, which reaches the spend log. The proxy's classifier
(``proxy/classifier.py``) only gathers the inputs (state, embedding, escalation) and records the ``Route``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from costroute_plugins.messages import Message
from costroute_plugins.routing.feedback import FeedbackSettings
from costroute_plugins.routing.hints import RouteHints
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.routing.router import Decision, Router

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


class RouteSettings(Protocol):
    """What the precedence reads of ``costroute.routing`` (``config.RoutingConfig``, validated at load)."""

    @property
    def premium_tenants(self) -> list[str]: ...
    @property
    def task_min_tier(self) -> dict[str, str]: ...
    @property
    def holdout_fraction(self) -> float: ...
    @property
    def holdout_salt(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def baseline_tier(self) -> str | None: ...


@dataclass(frozen=True)
class Route:
    """The policy's answer for one request: ``serve`` is the tier LiteLLM is told, ``tier`` and ``reason`` the
    decision recorded (shadow and holdout serve another tier than they record), ``mode`` how it was applied.
    A route no score took part in (a budget downgrade) has ``score`` None and logs only tier and reason."""

    serve: str
    tier: str
    reason: str
    mode: str
    score: float | None = None
    holdout: bool = False

    def spend_log_fields(self) -> dict[str, Any]:
        """The ``costroute_route_*`` fields of LiteLLM's spend-log metadata."""
        fields: dict[str, Any] = {"costroute_route_tier": self.tier, "costroute_route_reason": self.reason}
        if self.score is not None:
            fields.update(costroute_route_score=self.score, costroute_route_mode=self.mode,
                          costroute_route_holdout=self.holdout)
        return fields


def route_before_router(settings: RouteSettings, tiers: Sequence[str], *, tenant: str, forced_tier: str | None
                        ) -> Route | None:
    """Rules 1 and 2, which need no score: a budget downgrade, then a premium tenant. None: the router decides."""
    if forced_tier:
        return Route(serve=forced_tier, tier=forced_tier, reason="budget downgrade", mode="enforce")
    if tenant in settings.premium_tenants:
        top = tiers[-1]
        return _applied(Decision(top, 1.0, None, f"{top}: premium tenant {tenant}"), settings, tiers, holdout=False)
    return None


def decide(router: Router, messages: Sequence[Message], embedding: np.ndarray | None, *, settings: RouteSettings,
           tiers: Sequence[str], hints: RouteHints, relaxation: float, thresholds: Sequence[float],
           escalation: tuple[str, float] | None, latency: TierLatency) -> Decision:
    """Rule 3: the router's choice on ``thresholds`` (the quality loop's, else the calibrated ones), raised to the
    task's minimum tier and to ``escalation`` (tier, similarity of the thumbs-down prompt), then fitted to the
    caller's latency hint without going below either floor."""
    decision = router.decide(messages, embedding, relaxation=relaxation, required_quality=hints.required_quality,
                             base_thresholds=thresholds)
    adjust = Adjustment(tiers)
    task_floor = settings.task_min_tier.get(hints.task) if hints.task else None
    decision = adjust.raise_to(decision, task_floor, f"task {hints.task}")
    if escalation is not None:
        decision = adjust.raise_to(decision, escalation[0], f"thumbs-down on a similar prompt "
                                                            f"(similarity {escalation[1]:.2f})")
    if hints.max_latency_ms is not None:
        floor = higher(tiers, task_floor, escalation[0] if escalation else None)
        decision = adjust.fit_latency(decision, hints.max_latency_ms, latency, floor)
    return decision


def route_decided(decision: Decision, settings: RouteSettings, tiers: Sequence[str], request_id: str) -> Route:
    """Rule 4 for the router's decision: the request's holdout draw and the mode say what is served."""
    holdout = in_holdout(request_id, settings.holdout_fraction, settings.holdout_salt)
    return _applied(decision, settings, tiers, holdout=holdout)


def _applied(decision: Decision, settings: RouteSettings, tiers: Sequence[str], holdout: bool) -> Route:
    mode = "holdout" if holdout and settings.mode == "enforce" else settings.mode
    serve = {"shadow": str(settings.baseline_tier), "holdout": tiers[-1]}.get(mode, decision.tier)
    return Route(serve=serve, tier=decision.tier, reason=decision.reason, mode=mode, score=round(decision.score, 4),
                 holdout=holdout)
