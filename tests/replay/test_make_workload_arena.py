"""An operator builds a chat replay from Arena outcomes: three recorded tiers, every tenant asking the held-out set.

Arena grades Mistral-7B, Mixtral-8x7B and GPT-4-Turbo on the same prompts and keeps their answers' lengths, so the
workload scores every tier from recorded data; its held-out split is small, so each tenant asks all of it (the
cache is per tenant, so each tenant's first ask is routed afresh).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from costroute_plugins.replay.workload import read_workload
from costroute_plugins.routing.artifact import load_artifact

CHEAP = "mistralai/Mistral-7B-Instruct-v0.1"
BALANCED = "mistralai/Mixtral-8x7B-Instruct-v0.1"
PREMIUM = "gpt-4-1106-preview"
TENANTS = 5


def _arena_outcomes(path: Path) -> dict[str, dict]:
    """120 graded prompts with answer lengths; one held-out prompt lacks Mixtral's grade (the judge gave none)."""
    rule = load_artifact(None).split
    texts = [f"Arena question {i}: plan a three-day trip to a city you pick, with a budget." for i in range(120)]
    ungraded = next(text for text in texts if rule.split_of(text) == "test")
    rows = {}
    for i, text in enumerate(texts):
        scores = {CHEAP: round(0.1 * (i % 5), 6), BALANCED: 0.6, PREMIUM: 0.9}
        chars = {CHEAP: 400 + i, BALANCED: 800 + i, PREMIUM: 1600 + i}
        if text == ungraded:
            del scores[BALANCED], chars[BALANCED]
        rows[text] = {"id": f"arena_bench/{i}", "prompt": text, "scores": scores, "answer_chars": chars}
    path.write_text("".join(json.dumps(row) + "\n" for row in rows.values()))
    return rows


def make_workload(out: Path, outcomes: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "make-workload", "--outcomes", str(outcomes),
         "--out", str(out), "--cheap-model", CHEAP, "--balanced-model", BALANCED, "--premium-model", PREMIUM,
         "--tenants", str(TENANTS), "--each-tenant-asks-all", *extra],
        capture_output=True, text=True, timeout=120,
    )


def test_every_tenant_asks_each_held_out_prompt_once_scored_by_three_recorded_tiers(tmp_path: Path) -> None:
    rows = _arena_outcomes(tmp_path / "arena_bench.jsonl")
    rule = load_artifact(None).split
    held_out = {text for text, row in rows.items() if rule.split_of(text) == "test" and BALANCED in row["scores"]}
    n = TENANTS * len(held_out)

    done = make_workload(tmp_path / "w.jsonl", tmp_path / "arena_bench.jsonl", "--n", str(n), "--repeat-share", "0")

    assert done.returncode == 0, done.stderr
    assert f"{n} requests (fresh {n}, repeat 0, pair-a 0, pair-b 0)" in done.stdout
    assert f"{len(held_out)} distinct held-out prompts" in done.stdout
    requests = read_workload(tmp_path / "w.jsonl").requests
    assert n >= 60 and len(requests) == n and {r.kind for r in requests} == {"fresh"}
    # Each tenant asks every held-out prompt exactly once, in its own order.
    asked = Counter((r.tenant, r.prompt) for r in requests)
    assert set(asked.values()) == {1} and len(asked) == n
    assert {r.prompt for r in requests} == held_out
    orders = {tenant: [r.prompt for r in requests if r.tenant == tenant] for tenant in {r.tenant for r in requests}}
    assert len(orders) == TENANTS and len({tuple(order) for order in orders.values()}) > 1
    # Every tier scores and answers as its model did: recorded grades, recorded lengths (four characters a token).
    for request in requests:
        row = rows[request.prompt]
        assert request.scores == {"cheap": row["scores"][CHEAP], "balanced": row["scores"][BALANCED],
                                  "premium": row["scores"][PREMIUM]}
        assert request.answer_tokens == {"cheap": row["answer_chars"][CHEAP] // 4,
                                         "balanced": row["answer_chars"][BALANCED] // 4,
                                         "premium": row["answer_chars"][PREMIUM] // 4}


def test_asking_more_than_every_tenant_can_ask_fresh_fails_clearly(tmp_path: Path) -> None:
    _arena_outcomes(tmp_path / "arena_bench.jsonl")

    done = make_workload(tmp_path / "w.jsonl", tmp_path / "arena_bench.jsonl", "--n", "5000", "--repeat-share", "0")

    assert done.returncode == 1
    assert f"each of the {TENANTS} tenants asked all" in done.stderr and "raise --tenants" in done.stderr


def test_paraphrases_need_a_pairs_file(tmp_path: Path) -> None:
    _arena_outcomes(tmp_path / "arena_bench.jsonl")

    done = make_workload(tmp_path / "w.jsonl", tmp_path / "arena_bench.jsonl", "--paraphrase-share", "0.1")

    assert done.returncode == 1 and "--paraphrase-share needs --pairs" in done.stderr
