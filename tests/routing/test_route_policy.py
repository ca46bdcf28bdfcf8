"""The order in which budget, tenant, caller and operator decide the tier of a ``model: auto`` request.

Each case is one request in one situation: what the operator configured, what the request carries, what the
router would say; then the tier served, the decision recorded and what reaches the spend log.
"""

from __future__ import annotations

from typing import Any

from costroute_plugins.config import RoutingConfig, parse_config
from costroute_plugins.routing.hints import RouteHints
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.routing.policy import Route, decide, in_holdout, route_before_router, route_decided
from costroute_plugins.routing.router import Decision, Router
from tests.routing.test_routing_router import THREE_TIERS, FixedScore

TIERS = ["cheap", "balanced", "premium"]
ROUTER = Router(FixedScore(), THREE_TIERS)  # cheap below 0.3, balanced from 0.3, premium from 0.7


def routing(**settings: Any) -> RoutingConfig:
    return parse_config({"routing": settings}).routing


def route(score: str, settings: RoutingConfig, *, tenant: str = "team:a", forced_tier: str | None = None,
          hints: RouteHints | None = None, escalation: tuple[str, float] | None = None,
          latency: TierLatency | None = None, request_id: str = "req-1") -> Route:
    """One request whose router score is ``score``, through the whole precedence."""
    early = route_before_router(settings, TIERS, tenant=tenant, forced_tier=forced_tier)
    if early is not None:
        return early
    decision = decide(ROUTER, [{"role": "user", "content": score}], None, settings=settings, tiers=TIERS,
                      hints=hints or RouteHints(), relaxation=0.0, thresholds=ROUTER.thresholds, escalation=escalation,
                      latency=latency or TierLatency())
    return route_decided(decision, settings, TIERS, request_id)


def held_out_id(fraction: float, salt: str) -> str:
    return next(f"req-{i}" for i in range(1000) if in_holdout(f"req-{i}", fraction, salt))


def test_a_capped_budget_with_action_downgrade_serves_its_tier_whatever_the_router_and_the_tenant():
    settings = routing(premium_tenants=["team:vip"], mode="shadow")

    downgraded = route("0.95", settings, tenant="team:vip", forced_tier="cheap")

    assert (downgraded.serve, downgraded.tier, downgraded.reason) == ("cheap", "cheap", "budget downgrade")
    assert downgraded.spend_log_fields() == {"costroute_route_tier": "cheap",
                                             "costroute_route_reason": "budget downgrade"}


def test_a_premium_tenant_gets_the_top_tier_even_for_an_easy_prompt_and_is_never_held_out():
    settings = routing(premium_tenants=["team:vip"], holdout_fraction=0.5)

    premium = route("0.0", settings, tenant="team:vip", request_id=held_out_id(0.5, settings.holdout_salt))

    assert (premium.serve, premium.mode, premium.holdout) == ("premium", "enforce", False)
    assert premium.reason == "premium: premium tenant team:vip"
    assert premium.spend_log_fields() == {
        "costroute_route_tier": "premium", "costroute_route_reason": "premium: premium tenant team:vip",
        "costroute_route_score": 1.0, "costroute_route_mode": "enforce", "costroute_route_holdout": False}


def test_otherwise_the_router_decides_and_its_tier_is_served():
    settings = routing()

    assert route_before_router(settings, TIERS, tenant="team:a", forced_tier=None) is None
    easy, medium = route("0.1", settings), route("0.5", settings)

    assert (easy.serve, easy.tier, easy.mode, easy.score) == ("cheap", "cheap", "enforce", 0.1)
    assert (medium.serve, medium.tier) == ("balanced", "balanced")
    assert "fixed score 0.500 >= balanced threshold 0.300" in medium.reason


def test_shadow_mode_records_the_decision_and_serves_the_baseline_tier():
    shadow = route("0.1", routing(mode="shadow", baseline_tier="balanced"))

    assert (shadow.serve, shadow.tier, shadow.mode) == ("balanced", "cheap", "shadow")
    assert shadow.spend_log_fields()["costroute_route_tier"] == "cheap"


def test_the_holdout_serves_the_top_tier_and_records_what_the_router_would_have_served():
    settings = routing(holdout_fraction=0.5)
    held = route("0.1", settings, request_id=held_out_id(0.5, settings.holdout_salt))

    assert (held.serve, held.tier, held.mode, held.holdout) == ("premium", "cheap", "holdout", True)
    assert held.spend_log_fields()["costroute_route_holdout"] is True


def test_a_task_floor_raises_an_easy_prompt_and_leaves_a_harder_one_alone():
    settings = routing(task_min_tier={"code": "balanced"})

    raised = route("0.1", settings, hints=RouteHints(task="code"))
    kept = route("0.95", settings, hints=RouteHints(task="code"))

    assert raised.serve == "balanced" and raised.reason.endswith("raised to balanced: task code")
    assert kept.serve == "premium" and "raised" not in kept.reason


def test_a_thumbs_down_on_a_similar_prompt_raises_the_tier_to_its_escalation():
    escalated = route("0.1", routing(), escalation=("balanced", 0.91))

    assert escalated.serve == "balanced"
    assert escalated.reason.endswith("raised to balanced: thumbs-down on a similar prompt (similarity 0.91)")


def test_a_latency_hint_moves_off_a_slow_tier_but_never_below_the_floors():
    latency = TierLatency({"premium": 3000, "balanced": 900, "cheap": 300})
    hurried = RouteHints(max_latency_ms=1000)

    assert route("0.95", routing(), hints=hurried, latency=latency).serve == "balanced"
    floored = route("0.95", routing(), hints=RouteHints(max_latency_ms=500), latency=latency,
                    escalation=("balanced", 0.9))
    assert floored.serve == "premium" and floored.reason.endswith("no tier fits max_latency_ms 500")


def test_required_quality_reaches_the_router_and_the_budget_relaxation_lowers_the_tier():
    settings = routing()
    messages = [{"role": "user", "content": "0.5"}]

    strict = decide(ROUTER, messages, None, settings=settings, tiers=TIERS, hints=RouteHints(required_quality=0.99),
                    relaxation=0.0, thresholds=ROUTER.thresholds, escalation=None, latency=TierLatency())
    relaxed = decide(ROUTER, messages, None, settings=settings, tiers=TIERS, hints=RouteHints(), relaxation=0.5,
                     thresholds=ROUTER.thresholds, escalation=None, latency=TierLatency())

    assert strict.tier == "premium"  # no calibration table: nothing proves a cheaper tier keeps 99%
    assert relaxed.tier == "cheap"  # balanced's 0.3 moves halfway to 1: 0.65 > 0.5


def test_the_quality_loops_thresholds_replace_the_calibrated_ones():
    moved = decide(ROUTER, [{"role": "user", "content": "0.5"}], None, settings=routing(), tiers=TIERS,
                   hints=RouteHints(), relaxation=0.0, thresholds=[0.2, 0.45], escalation=None,
                   latency=TierLatency())

    assert moved == Decision("premium", 0.5, 0.45, moved.reason) and "threshold 0.450" in moved.reason
