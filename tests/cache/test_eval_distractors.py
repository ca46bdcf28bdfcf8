"""``eval-cache --distractors``: every ``a`` in one cache, and a hit judged on the two texts, not on its row.

QQP asks the same question in several rows, so a query served another row's labelled duplicate was answered
right; counting only the pair's own ``a`` as right understated precision.
"""

from __future__ import annotations

import json

import pytest

from costroute_plugins.cache.evaluate import LookupVerdict, classify, label_texts, summarise
from costroute_plugins.cache.pairs import Pair
from costroute_plugins.cli import main

LABELS = label_texts([
    Pair("How do I learn Python quickly?", "What is the fastest way to learn Python?", True),
    Pair("How do I bake a chocolate cake?", "How do I bake a chocolate cake without eggs?", False),
])


@pytest.mark.parametrize(("query", "served", "verdict"), [
    ("how do i learn python quickly", "How do I learn Python quickly?", "identical"),
    ("What is the fastest way to learn Python?", "How do I learn Python quickly?", "duplicate"),
    ("How do I learn Python quickly?", "What is the fastest way to learn Python?", "duplicate"),  # either order
    ("what is the fastest way to learn python", "How do I learn Python quickly?", "duplicate"),  # exact form
    ("How do I bake a chocolate cake without eggs?", "How do I bake a chocolate cake?", "non-duplicate"),
    ("What is the fastest way to learn Python?", "How do I bake a chocolate cake?", "unlabelled"),
])
def test_a_hit_is_judged_by_any_rows_label_on_the_two_texts(query, served, verdict):
    assert classify(query, served, LABELS) == verdict


def test_identical_means_the_exact_tiers_form_so_an_operator_still_differs():
    assert classify("What is 3 + 5?", "what is 3 - 5", {}) == "unlabelled"
    assert classify("What is 3 + 5?", "what is 3+5", {}) == "identical"


def test_identical_text_is_right_whatever_a_row_says():
    labels = label_texts([Pair("Is it safe?", "is it safe", False)])
    assert classify("Is it safe?", "is it safe", labels) == "identical"


def test_contradicting_rows_are_settled_by_majority_and_a_tie_is_wrong():
    yes, no = Pair("q", "p", True), Pair("p", "q", False)
    assert classify("q", "p", label_texts([yes, yes, no])) == "duplicate"
    assert classify("q", "p", label_texts([yes, no])) == "non-duplicate"


def test_summary_counts_each_class_and_bounds_precision_by_the_unlabelled_hits():
    pairs = [Pair("a", "b", True), Pair("c", "d", True), Pair("e", "f", False), Pair("g", "h", False),
             Pair("i", "j", True), Pair("k", "l", True)]
    outcomes = [LookupVerdict(1.0, "identical", "exact"), LookupVerdict(0.95, "duplicate", "semantic"),
                LookupVerdict(0.9, "non-duplicate", "semantic"), LookupVerdict(0.9, "unlabelled", "semantic"),
                LookupVerdict(0.8, "duplicate", "semantic"), LookupVerdict(None, None, None)]
    summary = summarise(pairs, outcomes, 0.85)
    assert summary == {
        "threshold": 0.85, "hits": 4, "exact_hits": 1, "correct_hits": 2, "identical_hits": 1,
        "duplicate_hits": 1, "wrong_hits": 1, "unlabelled_hits": 1, "precision": round(2 / 3, 4),
        "precision_lower": 0.5, "precision_upper": 0.75, "recall": 0.5,
    }


@pytest.fixture
def private_embedding_memo(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTROUTE_EMB_CACHE", str(tmp_path / "emb"))


def test_eval_cache_with_distractors_reports_every_class(private_embedding_memo, capsys, tmp_path):
    rows = [
        ("How do I learn Python quickly?", "how do i learn python quickly", True),  # identical text
        # Both rows ask the same b; the second row's a is nearer, so the first row is served it: a right answer
        # labelled by the other row.
        ("What are the benefits of drinking green tea every day?", "What are the health benefits of green tea?", True),
        ("What are the health benefits of drinking green tea?", "What are the health benefits of green tea?", True),
        ("How do I bake a chocolate cake?", "How do I bake a chocolate cake without eggs?", False),
        # Served "How do I learn Python quickly?", which no row pairs with this b.
        ("Which programming language should a beginner learn first?", "How do I learn Python fast?", False),
        ("How do I lose weight?", "What diet helps me shed pounds?", True),  # too far apart: a miss
    ]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"a": a, "b": b, "duplicate": d}) + "\n" for a, b, d in rows))
    config = tmp_path / "cache.json"  # no verifier: the test is about judging hits, not about refusing them
    config.write_text(json.dumps({"verifier_rules": [], "learned_verifier": False}))
    command = ["eval-cache", "--pairs", str(pairs), "--distractors", "--threshold", "0.75", "--config", str(config),
               "--json"]
    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out)
    classes = {key: summary[key] for key in ("identical_hits", "duplicate_hits", "wrong_hits", "unlabelled_hits")}
    assert classes == {"identical_hits": 1, "duplicate_hits": 2, "wrong_hits": 1, "unlabelled_hits": 1}
    assert (summary["precision"], summary["precision_lower"], summary["precision_upper"]) == (0.75, 0.6, 0.8)
    assert summary["recall"] == 0.75
