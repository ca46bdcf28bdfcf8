"""The replay report's arithmetic on hand-made outcomes: what the savings split and the quality figure mean."""

from __future__ import annotations

import pytest

from costroute_plugins.replay.client import ProxyReply
from costroute_plugins.replay.report import build_report, score_request
from costroute_plugins.replay.workload import Request
from costroute_plugins.stub.outcomes import marker, qid_tag

RATES = {"cheap": (1e-8, 1e-7), "balanced": (4e-7, 1.6e-6), "premium": (2e-6, 8e-6)}
TOKENS = {"cheap": 100, "balanced": 100, "premium": 100}


def request(n: int, qid: str, kind: str = "fresh", premium: float = 1.0, cheap: float = 0.0) -> Request:
    return Request(n=n, tenant="t", kind=kind, stream=False, prompt=f"prompt {qid}", qid=qid,
                   scores={"cheap": cheap, "balanced": (cheap + premium) / 2, "premium": premium},
                   answer_tokens=TOKENS, prompt_tokens=50, source=qid)


def served(n: int, qid: str, tier: str, score: float, cache: str = "miss", cost: float | None = None,
           state: str = "normal") -> tuple[ProxyReply, dict]:
    capture = {"response_cost": cost if cost is not None else 50 * RATES[tier][0] + 100 * RATES[tier][1],
               "cache_hit": cache == "hit", "costroute": {"costroute_budget_state": state}}
    if cache == "hit":
        capture["response_cost"] = 0.0
    reply = ProxyReply(n, 200, 0.1 * (n + 1), text=f"{marker(qid, tier, score)} words",
                   headers={"x-costroute-tier": tier, "x-costroute-cache": cache})
    return reply, capture


def test_savings_split_into_cache_routing_and_budget_and_add_up():
    requests = [request(0, "q0"), request(1, "q1"), request(2, "q0", kind="repeat"), request(3, "q3")]
    replies = [served(0, "q0", "premium", 1.0), served(1, "q1", "cheap", 0.0),
               served(2, "q0", "premium", 1.0, cache="hit"), served(3, "q3", "cheap", 0.0, state="soft:b@90%")]
    unconstrained = {3: "premium"}  # without the budget the router would have sent request 3 to premium
    qids = {qid_tag(q): q for q in ("q0", "q1", "q3")}
    scored = [score_request(r, s, c, RATES, "premium", unconstrained, qids) for r, (s, c) in zip(requests, replies)]

    report = build_report(requests, scored, RATES, "premium", unconstrained)

    premium_each = 50 * 2e-6 + 100 * 8e-6
    cheap_each = 50 * 1e-8 + 100 * 1e-7
    cost = report["cost"]
    assert cost["always_premium_usd"] == pytest.approx(4 * premium_each, abs=1e-6)
    assert cost["actual_usd"] == pytest.approx(premium_each + 2 * cheap_each, abs=1e-6)
    assert cost["saving_by"]["cache"] == pytest.approx(premium_each, abs=1e-6)
    assert cost["saving_by"]["budget"] == pytest.approx(premium_each - cheap_each, abs=1e-6)
    assert cost["saving_by"]["routing"] == pytest.approx(premium_each - cheap_each, abs=1e-6)
    assert report["tier_shares"] == {"cache": 0.25, "cheap": 0.5, "premium": 0.25}
    assert report["quality"]["relative_to_premium"] == 0.5  # 2 of 4 answers right, premium had all 4
    assert report["budget"]["requests_moved_by_budget"] == 1


def test_a_cached_answer_to_another_question_scores_zero():
    asked = request(5, "pair/4/b", kind="pair-b")
    reply, capture = served(5, "pair/4/a", "premium", 1.0, cache="hit")

    scored = score_request(asked, reply, capture, RATES, "premium", {}, {qid_tag("pair/4/a"): "pair/4/a"})

    assert (scored.served_by, scored.score, scored.answer_qid, scored.cost_usd) == ("cache", 0.0, "pair/4/a", 0.0)


def test_the_quality_loss_is_split_by_cause_and_the_parts_add_up():
    requests = [request(0, "q0", cheap=1.0), request(1, "q1"), request(2, "q0", kind="repeat", cheap=1.0),
                request(3, "q3"), request(4, "pair/4/a", kind="pair-a"), request(5, "pair/4/b", kind="pair-b"),
                request(6, "q6")]
    replies = [served(0, "q0", "cheap", 1.0), served(1, "q1", "cheap", 0.0),
               served(2, "q0", "cheap", 1.0, cache="hit"), served(3, "q3", "cheap", 0.0, state="soft:b@90%"),
               served(4, "pair/4/a", "balanced", 0.5), served(5, "pair/4/a", "balanced", 0.5, cache="hit"),
               served(6, "q6", "premium", 1.0)]
    unconstrained = {3: "balanced"}  # the router alone would have chosen balanced (0.5) for request 3
    qids = {qid_tag(q): q for q in ("q0", "q1", "q3", "pair/4/a", "q6")}
    scored = [score_request(r, s, c, RATES, "premium", unconstrained, qids) for r, (s, c) in zip(requests, replies)]

    quality = build_report(requests, scored, RATES, "premium", unconstrained)["quality"]

    point = 100 / 7  # each request's premium score is 1 of 7
    causes = quality["loss_points_by_cause"]
    assert causes["wrong_cache_hit"] == pytest.approx(point, abs=0.01)  # request 5: another question's answer
    assert causes["routed_cheaper"] == pytest.approx(point + 0.5 * point + 0.5 * point, abs=0.01)  # 1, 3, 4
    assert causes["budget_downgrade"] == pytest.approx(0.5 * point, abs=0.01)  # request 3: balanced -> cheap
    assert causes["cached_cheaper_answer"] == causes["failed"] == 0.0  # request 2's cheap answer was right
    assert sum(causes.values()) == pytest.approx(quality["loss_pct"], abs=0.02)
    slices = quality["loss_points_by_slice"]
    assert slices["pair_questions"]["requests"] == 2
    assert slices["pair_questions"]["loss_points"] == pytest.approx(1.5 * point, abs=0.01)
    assert slices["recorded_outcomes"]["loss_points"] == pytest.approx(2 * point, abs=0.01)
