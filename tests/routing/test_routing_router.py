"""``Router.decide``: a score walks up the tier cascade; settings that cannot form a cascade are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.router import Router, RouterConfigError, RouterSettings, TierSpec, load_router


class FixedScore(TierClassifier):
    """Scores a request by a number written in its text, so each case states its own score."""

    name = "fixed"

    def premium_need(self, request: RequestView) -> float:
        return float(request.text)


THREE_TIERS = [
    TierSpec(name="cheap", cost_per_mtok=0.2),
    TierSpec(name="balanced", cost_per_mtok=1.0, enter_at=0.3),
    TierSpec(name="premium", cost_per_mtok=10.0, enter_at=0.7),
]


@pytest.mark.parametrize(
    ("score", "tier", "threshold"),
    [("0.1", "cheap", 0.3), ("0.3", "balanced", 0.3), ("0.5", "balanced", 0.3), ("0.95", "premium", 0.7)],
)
def test_a_request_goes_to_the_dearest_tier_whose_threshold_its_score_reaches(score, tier, threshold) -> None:
    decision = Router(FixedScore(), THREE_TIERS).decide([{"role": "user", "content": score}])
    assert (decision.tier, decision.score, decision.threshold) == (tier, float(score), threshold)
    assert "fixed score" in decision.reason and tier in decision.reason


def test_two_tiers_are_a_plain_threshold() -> None:
    router = Router(FixedScore(), THREE_TIERS[:1] + [THREE_TIERS[2]])
    assert [router.decide(RequestView.of_prompt(s)).tier for s in ("0.69", "0.7")] == ["cheap", "premium"]


def test_thresholds_that_do_not_rise_with_cost_are_refused() -> None:
    tiers = [THREE_TIERS[0], THREE_TIERS[1].model_copy(update={"enter_at": 0.8}), THREE_TIERS[2]]
    with pytest.raises(RouterConfigError, match="must not fall as cost rises"):
        Router(FixedScore(), tiers)


def test_settings_name_the_mistake() -> None:
    with pytest.raises(ValidationError, match="cheapest tier takes everything else"):
        RouterSettings(tiers=[TierSpec(name="cheap", enter_at=0.1), TierSpec(name="premium", enter_at=0.5)])
    with pytest.raises(ValidationError, match="cheapest first"):
        RouterSettings(tiers=[TierSpec(name="a", cost_per_mtok=5), TierSpec(name="b", cost_per_mtok=1, enter_at=0.5)])
    with pytest.raises(ValidationError, match="not of the form"):
        TierSpec(name="premium", enter_at="cheap please")


def test_the_default_router_loads_the_shipped_artifact_and_routes_three_tiers() -> None:
    router = load_router()
    assert [tier.name for tier in router.tiers] == ["cheap", "balanced", "premium"]
    assert router.thresholds[0] < router.thresholds[1]
    hello = router.decide([{"role": "user", "content": "hi, thanks!"}])
    assert hello.tier in ("cheap", "balanced", "premium") and 0.0 <= hello.score <= 1.0
    assert "no embedding" in hello.reason


def test_a_calibration_target_the_artifact_lacks_is_a_config_error() -> None:
    settings = {"tiers": [{"name": "cheap"}, {"name": "premium", "cost_per_mtok": 1, "enter_at": "quality>=0.42"}]}
    with pytest.raises(RouterConfigError, match="add one with `costroute calibrate`"):
        load_router(settings)


def test_the_rules_classifier_needs_no_artifact() -> None:
    router = load_router({"classifier": "rules", "tiers": [{"name": "cheap"}, {"name": "premium", "enter_at": 0.5}]})
    easy = router.decide([{"role": "user", "content": "hello"}])
    hard = router.decide([{"role": "user", "content": "Explain step by step why and prove: ```def f(x): return "
                                                       "x**2```  Solve 3x + 5 = 20, derive the integral."}])
    assert easy.score < hard.score and easy.tier == "cheap" and hard.tier == "premium"
