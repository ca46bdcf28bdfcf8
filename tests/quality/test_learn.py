"""The operator's audit records as outcome rows: what `costroute learn` learns from, and what it leaves out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.quality.learn import (
    RecordsError,
    default_pair,
    read_records,
    rows_for_pair,
    rows_from_records,
)

QUESTION = ({"role": "user", "content": "How do I reverse a list in Python?"},)
AUDIT = Audit(request_id="req-1", tenant="team:acme", kind="routed", served_tier="cheap", reference_tier="premium",
              messages=QUESTION, served_answer="Use reversed().", reference_answer="Use lst[::-1].",
              verdict=Verdict("single", served_rating=6.0, reference_rating=9.0, replies=("[[6]]", "[[9]]")))


def test_a_routed_audit_becomes_a_row_scored_by_tier():
    learned = rows_from_records([AUDIT.storable()])

    [row] = learned.rows
    assert row.outcome() == {"id": "audit/req-1", "messages": list(QUESTION), "scores": {"cheap": 0.6, "premium": 0.9}}
    assert row.tenant == "team:acme" and row.source == "audit" and not learned.skipped


def test_tier_names_can_be_renamed_to_the_public_datas_models():
    [row] = rows_from_records([AUDIT.storable()]).rows

    assert row.outcome({"cheap": "mixtral", "premium": "gpt-4"})["scores"] == {"mixtral": 0.6, "gpt-4": 0.9}


def test_records_it_cannot_learn_from_are_counted_by_reason():
    records = [
        replace(AUDIT, messages=({"role": "user", "content": "Email jane.doe@example.org the report"},)).storable(),
        replace(AUDIT, kind="cache").storable(),
        replace(AUDIT, verdict=Verdict("pairwise", preference="served")).storable(),
        replace(AUDIT, verdict=None, problem="judge gave no rating").storable(),
        replace(AUDIT, served_tier="premium").storable(),
    ]

    learned = rows_from_records(records)

    assert learned.rows == []
    assert learned.summary()["skipped"] == {
        "cache audit (grades the cache's match, not the tier)": 1, "no cheaper tier compared": 1, "no verdict": 1,
        "pairwise preference (no ratings)": 1, "texts withheld (personal data)": 1}


def test_thumbs_on_a_cheaper_tier_train_and_thumbs_on_the_top_tier_do_not():
    down = {"kind": "feedback", "rating": "down", "served_tier": "cheap", "response_id": "r-2", "messages": list(QUESTION)}
    up = {**down, "rating": "up", "response_id": "r-3"}
    top = {**down, "served_tier": "premium"}

    learned = rows_from_records([AUDIT.storable(), down, up, top])

    scores = {row.id: dict(row.scores) for row in learned.rows}
    assert scores["feedback/r-2"] == {"cheap": 0.0, "premium": 1.0}
    assert scores["feedback/r-3"] == {"cheap": 1.0, "premium": 1.0}
    assert learned.skipped == {"feedback on the top tier": 1}
    assert [row.id for row in learned.audit_rows] == ["audit/req-1"]


def test_the_most_audited_pair_is_learned_and_other_pairs_are_counted():
    middle = replace(AUDIT, request_id="req-2", served_tier="medium").storable()
    learned = rows_from_records([AUDIT.storable(), replace(AUDIT, request_id="req-3").storable(), middle])

    assert default_pair(learned) == ("cheap", "premium")
    rows, other = rows_for_pair(learned, "cheap", "premium")
    assert [row.id for row in rows] == ["audit/req-1", "audit/req-3"] and other == 1


def test_a_malformed_records_file_names_the_line(tmp_path: Path):
    path = tmp_path / "audits.jsonl"
    path.write_text(json.dumps(AUDIT.storable()) + "\n\n{not json\n", encoding="utf-8")

    with pytest.raises(RecordsError, match=r"audits.jsonl:3: not JSON"):
        read_records([path])
    path.write_text(json.dumps(AUDIT.storable()) + "\n", encoding="utf-8")
    assert read_records([path]) == [json.loads(json.dumps(AUDIT.storable()))]
