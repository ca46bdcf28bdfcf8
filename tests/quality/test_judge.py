"""The judge's prompts carry what it must see, and its replies are parsed without ever raising."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costroute_plugins.quality.judge import (
    JUDGE_MAX_TOKENS,
    PAIR_SYSTEM,
    SINGLE_SYSTEM,
    Grading,
    Verdict,
    parse_choice,
    parse_rating,
    render_question,
)

ASK = [{"role": "user", "content": "How many legs has a spider?"}]


@pytest.mark.parametrize(("reply", "rating"), [
    ("The answer is correct and concise.\n\nRating: [[8]]", 8.0),
    ("Rating: [[7.5]]", 7.5),
    ("Rating: [[ 9 ]]", 9.0),
    ("Rating: [[6/10]]", 6.0),
    ('I must answer in the format "[[rating]]", e.g. "Rating: [[5]]". Here: Rating: [[3]]', 3.0),  # the last counts
    ("Rating: [[10]]", 10.0),
    ("Rating: [[1]]", 1.0),
    ("Rating: [[0]]", None),  # off the 1-10 scale: refused, not clamped
    ("Rating: [[11]]", None),
    ("Rating: [[1000000]]", None),
    ("Rating: 8", None),  # not in the required format
    ("Rating: [8]", None),
    ("", None),
    (None, None),
])
def test_a_rating_is_read_from_the_format_only(reply, rating):
    assert parse_rating(reply) == rating


@pytest.mark.parametrize(("reply", "choice"), [
    ("Assistant A explains it better. [[A]]", "A"),
    ("[[B]]", "B"),
    ("Both are equally good: [[C]]", "C"),
    ('Output "[[A]]" if A is better... My verdict: [[B]]', "B"),
    ("A is better", None),
    ("[[D]]", None),
    (None, None),
])
def test_a_pairwise_verdict_is_read_from_the_format_only(reply, choice):
    assert parse_choice(reply) == choice


@given(st.text(max_size=2000))
def test_the_parsers_never_raise_on_arbitrary_text(text):
    rating = parse_rating(text)

    assert rating is None or 1.0 <= rating <= 10.0
    assert parse_choice(text) in (None, "A", "B", "C")


@given(explanation=st.text(max_size=500).filter(lambda t: "[[" not in t and "]]" not in t),
       rating=st.integers(1, 10))
def test_a_rating_after_any_explanation_is_found(explanation, rating):
    assert parse_rating(f"{explanation}\nRating: [[{rating}]]") == rating


def test_single_grading_asks_for_each_answer_on_its_own():
    grading = Grading.for_audit("routed", "single", ASK, "Eight.", "A spider has eight legs.")

    assert grading.method == "single" and [call.purpose for call in grading.calls] == ["served", "reference"]
    for call, answer, other in zip(grading.calls, ("Eight.", "A spider has eight legs."),
                                   ("A spider has eight legs.", "Eight.")):
        system, user = call.messages
        assert system == {"role": "system", "content": SINGLE_SYSTEM}
        assert "[Question]\nHow many legs has a spider?" in user["content"]
        assert f"[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]" in user["content"]
        assert other not in user["content"]  # graded blind to the other answer
        assert call.max_tokens == JUDGE_MAX_TOKENS and call.temperature == 0.0


def test_single_verdict_needs_both_ratings():
    grading = Grading.for_audit("routed", "single", ASK, "Eight.", "Eight legs.")

    verdict = grading.verdict(["Correct. Rating: [[7]]", "Correct and complete. Rating: [[9]]"])

    assert verdict == Verdict("single", served_rating=7.0, reference_rating=9.0,
                              replies=("Correct. Rating: [[7]]", "Correct and complete. Rating: [[9]]"))
    assert not verdict.as_good and not verdict.wrong_answer
    assert grading.verdict(["Rating: [[7]]", "I cannot grade this."]) is None
    assert grading.verdict(["Rating: [[7]]", None]) is None  # the second call failed
    assert grading.verdict(["Rating: [[7]]"]) is None


def test_pairwise_grading_asks_twice_with_the_order_swapped():
    grading = Grading.for_audit("routed", "pairwise", ASK, "SERVED", "REFERENCE")

    first, second = (call.messages[1]["content"] for call in grading.calls)
    assert grading.calls[0].messages[0]["content"] == PAIR_SYSTEM
    assert first.index("SERVED") < first.index("REFERENCE") and second.index("REFERENCE") < second.index("SERVED")


@pytest.mark.parametrize(("first", "second", "preference"), [
    ("[[A]]", "[[B]]", "served"),  # the served answer won in both orders
    ("[[B]]", "[[A]]", "reference"),
    ("[[A]]", "[[A]]", "tie"),  # the first position won twice: position bias, not a preference
    ("[[C]]", "[[B]]", "tie"),
    ("[[C]]", "[[C]]", "tie"),
])
def test_an_answer_wins_only_when_it_wins_in_both_orders(first, second, preference):
    verdict = Grading.for_audit("routed", "pairwise", ASK, "s", "r").verdict([first, second])

    assert verdict is not None and verdict.preference == preference
    assert verdict.as_good == (preference != "reference") and verdict.wrong_answer is None


def test_cache_audits_are_graded_single_whatever_is_configured():
    assert Grading.for_audit("cache", "pairwise", ASK, "s", "r").method == "single"


def test_a_conversation_is_shown_whole_with_the_turn_being_answered():
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": [{"type": "text", "text": "Spider legs?"}]}]

    question = render_question(conversation)

    assert question.startswith("### System:\nBe brief.\n\n### User:\nHi\n\n### Assistant:\nHello!\n\n### User:\n"
                               "Spider legs?")
    assert "last message" in question
    assert render_question(ASK) == "How many legs has a spider?"


@pytest.mark.parametrize(("served", "reference", "wrong"), [(2, 8, True), (3, 9, True), (2, 2, False), (5, 9, False)])
def test_a_wrong_answer_fails_the_question_the_reference_passes(served, reference, wrong):
    assert Verdict("single", served_rating=served, reference_rating=reference).wrong_answer is wrong


@pytest.mark.parametrize("broken", [
    {"method": "single", "served_rating": 7.0},
    {"method": "single", "served_rating": 7.0, "reference_rating": 12.0},
    {"method": "pairwise"},
])
def test_an_inconsistent_verdict_is_refused(broken):
    with pytest.raises(ValueError):
        Verdict(**broken)
