"""An operator builds a replay workload from outcome and pair data with `costroute make-workload`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from costroute_plugins.replay.recipe import UNRECORDED
from costroute_plugins.replay.workload import read_workload
from costroute_plugins.routing.artifact import load_artifact
from costroute_plugins.routing.outcomes import read_outcomes
from tests.harness import REPO

OUTCOMES = REPO / "tests/data/routing_heldout.jsonl"
PAIRS = REPO / "tests/data/cache_pairs_sample.jsonl"


def make_workload(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "make-workload", "--outcomes", str(OUTCOMES),
         "--pairs", str(PAIRS), "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120,
    )


def test_the_recipe_mixes_held_out_prompts_repeats_and_pairs_for_several_tenants(tmp_path: Path):
    done = make_workload(tmp_path / "w.jsonl", "--n", "150", "--tenants", "3", "--repeat-share", "0.3",
                         "--paraphrase-share", "0.1", "--stream-share", "0.5", "--seed", "7")

    assert done.returncode == 0, done.stderr
    workload = read_workload(tmp_path / "w.jsonl")
    requests = workload.requests
    by_n = {r.n: r for r in requests}
    assert len(requests) == 150 and "150 requests" in done.stdout
    assert {t.name for t in workload.tenants} == {"tenant-1", "tenant-2", "tenant-3"}
    assert all(t.budget_fraction == 0.6 for t in workload.tenants)
    assert 20 < sum(r.stream for r in requests) < 130
    assert {r.kind for r in requests} == {"fresh", "repeat", "pair-a", "pair-b"}
    # Fresh prompts come only from the router's held-out split, each once.
    rule = load_artifact(None).split
    fresh = [r for r in requests if r.kind == "fresh"]
    assert all(rule.split_of(r.prompt) == "test" for r in fresh)
    assert len({r.prompt for r in fresh}) == len(fresh)
    # A repeat asks what its tenant asked before, and is scored like it.
    for repeat in (r for r in requests if r.kind == "repeat"):
        original = by_n[repeat.original]
        assert original.n < repeat.n and original.tenant == repeat.tenant
        assert (repeat.prompt, repeat.qid, repeat.scores) == (original.prompt, original.qid, original.scores)
    # A pair's second question shares the first's qid exactly when the pair is labelled duplicate.
    for second in (r for r in requests if r.kind == "pair-b"):
        first = by_n[second.original]
        assert first.kind == "pair-a" and first.tenant == second.tenant and first.n < second.n
        assert (second.qid == first.qid) is bool(second.duplicate)
    # Per tier: cheap and premium are the recorded scores, balanced closes 80% of the gap.
    for row in fresh:
        scores = row.scores
        assert scores["balanced"] == round(scores["cheap"] + 0.8 * (scores["premium"] - scores["cheap"]), 6)
    # Pair questions have no recorded outcome: each tier scores its mean over the held-out prompts.
    held_out = {row.text: row.scores for row in read_outcomes(OUTCOMES) if rule.split_of(row.text) == "test"}
    premium_mean = sum(scores["gpt-4-1106-preview"] for scores in held_out.values()) / len(held_out)
    unrecorded = [r for r in requests if r.qid.startswith("pair/")]
    assert unrecorded and all(r.source == UNRECORDED for r in unrecorded)
    assert all(r.scores["premium"] == round(premium_mean, 6) for r in unrecorded)
    assert 0 < unrecorded[0].scores["cheap"] < unrecorded[0].scores["balanced"] < unrecorded[0].scores["premium"]


def test_asking_for_more_fresh_prompts_than_the_held_out_split_has_fails_clearly(tmp_path: Path):
    done = make_workload(tmp_path / "w.jsonl", "--n", "5000", "--repeat-share", "0")

    assert done.returncode == 1
    assert "distinct 'test'-split prompts" in done.stderr and "lower --n" in done.stderr
