"""The stub tier that judges a replay's audits grades an answer by its recorded score, so the audits estimate the
quality the replay measures. The judge's prompts are the real ones (``quality/judge.py``), sent to a stub in
outcomes mode as the proxy's audits send them; its replies go through the real parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costroute_plugins.quality.judge import Grading, Verdict
from costroute_plugins.stub import StubBehaviour, StubUpstream
from costroute_plugins.stub.judge import DEFAULT_RATINGS, judge_reply, rating_of
from costroute_plugins.stub.outcomes import OutcomeBook, marker

QUESTION = "What is 2+2?"
OTHER = "Name the capital of France."
ANSWERS = {
    "schema_version": 1,
    "tiers": {"cheap": {"ttft_ms": 0, "ms_per_token": 0}, "premium": {"ttft_ms": 0, "ms_per_token": 0}},
    "prompts": {QUESTION: {"qid": "math/1", "scores": {"cheap": 0.0, "premium": 1.0},
                           "answer_tokens": {"cheap": 20, "premium": 20}},
                OTHER: {"qid": "geo/1", "scores": {"cheap": 1.0, "premium": 1.0},
                        "answer_tokens": {"cheap": 20, "premium": 20}}},
}


@pytest.fixture
def judge(tmp_path: Path) -> TestClient:
    """The premium tier's stub as the replay starts it: outcomes mode, judging the audits."""
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(ANSWERS))
    return TestClient(StubUpstream(StubBehaviour(name="premium"), OutcomeBook.load(path, "premium")).app)


def graded(judge: TestClient, method: str, served: str, reference: str, question: str = QUESTION,
           kind: str = "routed") -> Verdict | None:
    grading = Grading.for_audit(kind, method, [{"role": "user", "content": question}], served, reference)
    replies = [judge.post("/v1/chat/completions", json={"model": "premium", "messages": list(call.messages)})
               .json()["choices"][0]["message"]["content"] for call in grading.calls]
    return grading.verdict(replies)


def test_a_recorded_answer_is_rated_ten_times_its_score_on_the_one_to_ten_scale(judge):
    verdict = graded(judge, "single", f"{marker('math/1', 'cheap', 0.0)} four", f"{marker('math/1', 'premium', 1.0)} 4")

    assert verdict.served_rating == 1.0  # score 0: the scale's lowest rating (the judge's scale has no 0)
    assert verdict.reference_rating == 10.0
    assert not verdict.as_good and verdict.wrong_answer


def test_a_fractional_score_keeps_its_value(judge):
    verdict = graded(judge, "single", f"{marker('math/1', 'balanced', 0.73)} words",
                     f"{marker('math/1', 'premium', 0.8)} words")

    assert (verdict.served_rating, verdict.reference_rating) == (7.3, 8.0)


def test_pairwise_prefers_the_higher_recorded_score_in_both_orders(judge):
    worse, better = f"{marker('math/1', 'cheap', 0.0)} x", f"{marker('math/1', 'premium', 1.0)} y"

    assert graded(judge, "pairwise", worse, better).preference == "reference"
    assert graded(judge, "pairwise", better, worse).preference == "served"
    assert graded(judge, "pairwise", better, better).preference == "tie"


def test_a_cached_answer_to_another_question_is_rated_as_wrong(judge):
    # The cache served geo/1's answer (recorded score 1) to the maths question: worth 0 to this asker.
    verdict = graded(judge, "single", f"{marker('geo/1', 'cheap', 1.0)} Paris",
                     f"{marker('math/1', 'premium', 1.0)} 4", kind="cache")

    assert verdict.served_rating == 1.0 and verdict.wrong_answer


def test_answers_without_a_recorded_outcome_are_graded_by_tier_tag_as_before(judge):
    verdict = graded(judge, "single", "[cheap] answer to: x", "[premium] answer to: x")

    assert (verdict.served_rating, verdict.reference_rating) == (DEFAULT_RATINGS["cheap"], DEFAULT_RATINGS["premium"])
    assert graded(judge, "pairwise", "[cheap] a", "[premium] b").preference == "tie"


def test_the_stub_still_answers_recorded_prompts_and_ignores_non_judge_text(judge):
    answer = judge.post("/v1/chat/completions", json={"model": "premium",
                                                     "messages": [{"role": "user", "content": QUESTION}]}).json()

    assert answer["choices"][0]["message"]["content"].startswith(marker("math/1", "premium", 1.0))
    assert judge_reply("Just a question", None) is None


@pytest.mark.parametrize(("score", "rating"), [(0.0, 1.0), (0.05, 1.0), (0.5, 5.0), (1.0, 10.0), (1.2, 10.0)])
def test_scores_map_onto_the_judges_scale(score: float, rating: float):
    assert rating_of(score) == rating
