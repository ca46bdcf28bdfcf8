"""After a replay, the operator sees the cheapest fixed routing policy that would have kept the quality target,
found offline from the router's scores and the recorded outcomes: what the quality loop is measured against."""

from __future__ import annotations

import pytest

from costroute_plugins.replay.client import ProxyReply
from costroute_plugins.replay.report import score_request
from costroute_plugins.replay.sweep import Case, cases_from, sweep
from costroute_plugins.replay.workload import Request
from costroute_plugins.stub.outcomes import marker, qid_tag

TIERS = ["cheap", "premium"]
COSTS = {"cheap": 0.1, "premium": 1.0}


def routed(n: int, route_score: float, cheap_right: bool) -> Case:
    """A request the router scored; premium always answers right, cheap only on easy prompts."""
    scores = {"cheap": 1.0 if cheap_right else 0.0, "premium": 1.0}
    return Case(n=n, scores=scores, costs=COSTS, premium_score=1.0, premium_usd=1.0, live_score=0.0, live_usd=0.0,
                live_top=False, route_score=route_score)


def ten_requests() -> list[Case]:
    """Scores 0.05 .. 0.95; cheap fails from 0.35 up. The calibrated threshold 0.5 leaves two cheap failures."""
    return [routed(n, 0.05 + 0.1 * n, cheap_right=n < 3) for n in range(10)]


def test_the_cheapest_policy_meeting_the_target_moves_just_enough_traffic_up():
    result = sweep(ten_requests(), TIERS, [0.5], target=0.9)

    calibrated, best = result["at_calibration"], result["cheapest_meeting_target"]
    assert calibrated["shift"] == 0 and calibrated["thresholds"] == (0.5,)
    assert calibrated["quality"] == 0.8 and calibrated["reduction_pct"] == pytest.approx(100 * (1 - 5.5 / 10))
    # A tenth of the traffic moved up at the boundary: the 0.45 prompt goes to premium, quality 9/10.
    assert best["shift"] == pytest.approx(0.1, abs=1e-9)
    assert best["quality"] == 0.9 and best["reduction_pct"] == pytest.approx(100 * (1 - 6.4 / 10))
    assert best["top_share"] == 0.6
    cheaper = [p for p in result["curve"] if p["reduction_pct"] > best["reduction_pct"]]
    assert cheaper and all(p["quality"] < 0.9 for p in cheaper)


def test_when_the_calibration_keeps_more_than_the_target_a_looser_policy_wins():
    result = sweep(ten_requests(), TIERS, [0.5], target=0.5, lowest=-0.2)

    assert result["shifts"] == [-0.2, 1.0]
    best = result["cheapest_meeting_target"]
    assert best["shift"] == -0.2 and best["reduction_pct"] > result["at_calibration"]["reduction_pct"]


def test_no_policy_meeting_an_unreachable_target_is_reported_as_none():
    cases = [routed(0, 0.2, cheap_right=False), Case(1, {"cheap": 0.0, "premium": 1.0}, COSTS, 1.0, 1.0,
                                                     live_score=0.0, live_usd=0.0, live_top=False)]  # failed live

    assert sweep(cases, TIERS, [0.5], target=0.99)["cheapest_meeting_target"] is None


def test_a_right_cache_hit_scores_what_its_source_scores_under_each_policy_and_stays_free():
    source = routed(0, 0.45, cheap_right=False)
    hit = Case(n=1, scores=source.scores, costs=COSTS, premium_score=1.0, premium_usd=1.0, live_score=0.0,
               live_usd=0.0, live_top=False, hit_source=0)
    others = [routed(n, 0.1 * n, cheap_right=True) for n in range(2, 10)]

    result = sweep([source, hit, *others], TIERS, [0.5], target=1.0)

    # Moving the source to premium fixes both answers at the price of one premium call: the hit stays free.
    assert result["at_calibration"]["quality"] == 0.8
    best = result["cheapest_meeting_target"]
    assert best["quality"] == 1.0
    assert best["cost_usd"] == pytest.approx(COSTS["premium"] + sum(
        COSTS["premium"] if case.route_score >= best["thresholds"][0] else COSTS["cheap"] for case in others))


def test_a_replay_becomes_cases_with_router_scores_and_hit_sources():
    rates = {"cheap": (1e-8, 1e-7), "premium": (2e-6, 8e-6)}
    requests = [Request(n=n, tenant="t", kind="fresh" if n == 0 else "repeat", stream=False, prompt="p", qid="q",
                        scores={"cheap": 0.0, "premium": 1.0}, answer_tokens={"cheap": 10, "premium": 10},
                        prompt_tokens=5, source="q") for n in range(3)]
    replies = [
        (ProxyReply(0, 200, 0.1, text=f"{marker('q', 'cheap', 0.0)} a", headers={"x-costroute-tier": "cheap"}),
         {"response_cost": 1e-6, "costroute": {"costroute_route_score": 0.3, "costroute_route_mode": "enforce"}}),
        (ProxyReply(1, 200, 0.1, text=f"{marker('q', 'cheap', 0.0)} a", headers={"x-costroute-cache": "hit"}),
         {"response_cost": 0.0, "cache_hit": True, "costroute": {}}),
        (ProxyReply(2, 200, 0.1, text=f"{marker('q', 'cheap', 0.0)} a", headers={"x-costroute-tier": "cheap"}),
         {"response_cost": 1e-6, "costroute": {"costroute_route_tier": "cheap",
                                               "costroute_route_reason": "budget downgrade"}}),
    ]
    scored = [score_request(r, s, c, rates, "premium", {}, {qid_tag("q"): "q"}) for r, (s, c) in zip(requests, replies)]

    cases = cases_from(requests, scored, rates, TIERS)

    assert [c.route_score for c in cases] == [0.3, None, None]  # a budget-forced tier keeps its live outcome
    assert cases[1].hit_source == 0 and cases[1].live_usd == 0.0
    assert cases[0].costs["premium"] == pytest.approx(5 * 2e-6 + 10 * 8e-6)
