"""Caller hints and operator policy around the classifier: what a caller may ask, and what it does to the tier."""

from __future__ import annotations

import pytest

from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.routing.artifact import load_artifact
from costroute_plugins.routing.hints import HintError, RouteHints, parse_hints
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.routing.policy import Adjustment, in_holdout
from costroute_plugins.routing.router import Decision, Router, TierSpec
from tests.routing.test_routing_router import FixedScore

TIERS = ["cheap", "balanced", "premium"]


def test_a_caller_states_quality_latency_and_task_in_request_metadata() -> None:
    hints = parse_hints({"required_quality": "0.98", "max_latency_ms": 800, "task": "Code", "user": "x"})
    assert hints == RouteHints(required_quality=0.98, max_latency_ms=800.0, task="code")
    assert not parse_hints({"tags": ["feature:x"]})


@pytest.mark.parametrize(("metadata", "message"), [
    ({"required_quality": 1.5}, "metadata.required_quality: 1.5 is outside"),
    ({"required_quality": "high"}, "metadata.required_quality: expected a number"),
    ({"max_latency_ms": 0}, "metadata.max_latency_ms: 0 must be a positive"),
    ({"task": ["code"]}, "metadata.task: \\['code'\\] is not a task label"),
])
def test_a_malformed_hint_is_refused_naming_the_key(metadata, message) -> None:
    with pytest.raises(HintError, match=message):
        parse_hints(metadata)


def test_required_quality_makes_the_cascade_stricter_never_looser() -> None:
    tiers = [TierSpec(name="cheap"), TierSpec(name="balanced", cost_per_mtok=1, enter_at="share<=0.70"),
             TierSpec(name="premium", cost_per_mtok=10, enter_at="quality>=0.95")]
    router = Router(FixedScore(), tiers, load_artifact())
    stricter = router.quality_threshold(0.98)
    assert stricter < router.thresholds[-1]
    between = f"{(stricter + router.thresholds[0]) / 2:.6f}"
    assert router.decide([{"role": "user", "content": between}]).tier == "cheap"
    assert router.decide([{"role": "user", "content": between}], required_quality=0.98).tier == "premium"
    assert router.decide([{"role": "user", "content": between}], required_quality=0.5).tier == "cheap"
    # Beyond what calibration can promise, only the top tier is safe.
    assert router.decide([{"role": "user", "content": "0.0"}], required_quality=0.999).tier == "premium"


def test_floors_only_raise_and_latency_moves_to_the_nearest_tier_that_fits() -> None:
    adjust = Adjustment(TIERS)
    cheap = Decision("cheap", 0.1, 0.2, "cheap: score")
    assert adjust.raise_to(cheap, "balanced", "task code").tier == "balanced"
    assert adjust.raise_to(Decision("premium", 0.9, 0.2, "p"), "balanced", "task code").tier == "premium"

    latency = TierLatency({"premium": 3000, "balanced": 900, "cheap": 300})
    premium = Decision("premium", 0.9, 0.2, "premium: score")
    moved = adjust.fit_latency(premium, 1000, latency, floor=None)
    assert moved.tier == "balanced" and "premium takes ~3000 ms > max_latency_ms 1000" in moved.reason
    assert adjust.fit_latency(premium, 500, latency, floor="balanced").reason.endswith("no tier fits "
                                                                                      "max_latency_ms 500")
    for _ in range(5):  # observed traffic overrides the configured figure
        latency.observe("premium", 400)
    assert adjust.fit_latency(premium, 500, latency, floor=None).tier == "premium"


def test_the_holdout_is_deterministic_per_request_id_and_close_to_its_fraction() -> None:
    ids = [f"req-{i}" for i in range(20000)]
    held = [in_holdout(i, 0.1, "salt") for i in ids]
    assert held == [in_holdout(i, 0.1, "salt") for i in ids]
    assert 0.09 < sum(held) / len(ids) < 0.11
    assert not any(in_holdout(i, 0.0, "salt") for i in ids[:100])


def test_policy_settings_are_checked_at_load_with_the_fix() -> None:
    config = parse_config({"routing": {"premium_tenants": ["team:vip"], "task_min_tier": {"math": "premium"},
                                       "holdout_fraction": 0.05, "feedback": {"similarity": 0.85}}})
    assert config.routing.premium_tenants == ["team:vip"] and config.routing.feedback.similarity == 0.85
    with pytest.raises(CostrouteConfigError, match="premium_tenants.*'<team|key|end_user|org>:<id>'"):
        parse_config({"routing": {"premium_tenants": ["vip"]}})
    with pytest.raises(CostrouteConfigError, match="task_min_tier.code: 'gold' is not one of tiers"):
        parse_config({"routing": {"task_min_tier": {"code": "gold"}}})
    with pytest.raises(CostrouteConfigError, match="holdout_fraction"):
        parse_config({"routing": {"holdout_fraction": 0.9}})
