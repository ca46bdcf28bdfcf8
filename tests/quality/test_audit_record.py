"""An audit's record: its outcome for the estimates, and texts stored only when the cache would store them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from costroute_plugins.cache.admission import AdmissionPolicy
from costroute_plugins.quality.audit import Audit, first_secret
from costroute_plugins.quality.judge import Verdict

VERDICT = Verdict("single", served_rating=6.0, reference_rating=9.0,
                  replies=("Mostly right. Rating: [[6]]", "Complete. Rating: [[9]]"))
AUDIT = Audit(request_id="req-1", tenant="team:acme", kind="routed", served_tier="cheap", reference_tier="premium",
              messages=({"role": "user", "content": "How do I reverse a list in Python?"},),
              served_answer="Use reversed().", reference_answer="Use lst.reverse() or lst[::-1].",
              verdict=VERDICT, reference_cost_usd=0.004, judge_cost_usd=0.006)


def test_the_outcome_carries_the_verdict_and_the_whole_cost_without_texts():
    outcome = AUDIT.outcome()

    assert (outcome.request_id, outcome.tenant, outcome.kind, outcome.served_tier) == \
        ("req-1", "team:acme", "routed", "cheap")
    assert outcome.verdict is VERDICT and outcome.cost_usd == pytest.approx(0.010) and outcome.problem is None


def test_an_audit_without_a_verdict_says_why_and_still_costs():
    failed = replace(AUDIT, verdict=None, judge_cost_usd=0.006, problem="judge gave no rating")

    assert failed.outcome().problem == "judge gave no rating" and failed.outcome().cost_usd == pytest.approx(0.010)
    assert replace(AUDIT, verdict=None).outcome().problem == "no verdict"


def test_clean_texts_are_stored_with_the_numbers():
    record = json.loads(json.dumps(AUDIT.storable()))

    assert record["texts_withheld"] is None and record["schema"] == 1
    assert record["messages"] == [{"role": "user", "content": "How do I reverse a list in Python?"}]
    assert (record["served_answer"], record["reference_answer"]) == ("Use reversed().", AUDIT.reference_answer)
    assert record["judge_replies"] == list(VERDICT.replies)
    assert (record["served_rating"], record["reference_rating"], record["method"]) == (6.0, 9.0, "single")


@pytest.mark.parametrize(("change", "reason"), [
    ({"messages": ({"role": "user", "content": "Email jane.doe@example.org the report"},)}, "prompt contains email"),
    ({"messages": ({"role": "user", "content": [{"type": "text", "text": "card 4556 7375 8689 9855"}]},)},
     "prompt contains card_number"),
    ({"served_answer": "Sure, jane.doe@example.org it is."}, "served answer contains email"),
    ({"reference_answer": "Use key sk-proj-abcdefghijklmnopqrstuvwx"}, "reference answer contains openai_key"),
    ({"verdict": replace(VERDICT, replies=("Mentions jane.doe@example.org. Rating: [[6]]", "Rating: [[9]]"))},
     "judge reply contains email"),
])
def test_any_text_the_cache_would_refuse_withholds_all_texts(change, reason):
    record = replace(AUDIT, **change).storable()

    assert record["texts_withheld"] == reason
    assert not {"messages", "served_answer", "reference_answer", "judge_replies", "problem"} & set(record)
    assert record["served_rating"] == 6.0 and record["judge_cost_usd"] == 0.006  # the numbers stay


def test_the_gate_is_the_cache_admission_check_including_the_operators_own_patterns():
    texts = ["jane.doe@example.org", "call me on +44 20 7946 0958", "nothing here", "ticket ACME-12345"]
    operator = AdmissionPolicy(extra_secret_patterns={"ticket": r"ACME-\d{5}"})

    assert [first_secret(text) for text in texts] == [AdmissionPolicy().secret_in(text) for text in texts]
    assert AUDIT.storable()["texts_withheld"] is None
    ticketed = replace(AUDIT, served_answer="See ACME-12345.")
    assert ticketed.storable()["texts_withheld"] is None
    assert ticketed.storable(operator.secret_in)["texts_withheld"] == "served answer contains ticket"
