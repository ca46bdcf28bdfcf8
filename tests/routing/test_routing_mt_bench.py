"""The shipped router on MT-Bench chat prompts, a kind of traffic it never trained on (its data is GSM8K and MMLU).

``tests/data/mt_bench_outcomes.jsonl`` holds GPT-4-judged scores of the cheap and premium models on all 80
questions (see ``MT_BENCH_SOURCE.md``); it is an evaluation set only. The 80 embeddings go through the on-disk
cache, so after the first run this takes a few seconds.
"""

from __future__ import annotations

import json

import pytest

from costroute_plugins.cli import main
from tests.routing.conftest import CHEAP, DATA, PREMIUM

MT_BENCH = DATA / "mt_bench_outcomes.jsonl"


def _eval_router(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    code = main(["eval-router", "--outcomes", str(MT_BENCH), "--cheap-model", CHEAP, "--premium-model", PREMIUM,
                 "--baseline", "litellm-heuristic", "--baseline", "random", "--json"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return {row["method"]: row for row in rows}


def test_eval_router_on_mt_bench_scores_all_80_prompts_and_beats_random(capsys) -> None:
    apgr = {method: row["apgr"] for method, row in _eval_router(capsys).items()}
    assert set(apgr) == {"costroute-logistic", "litellm-heuristic", "random"}
    # Random routing sits at 0.5 by construction; a router that learned anything transferable clears it widely.
    assert apgr["costroute-logistic"] > apgr["random"] + 0.1, apgr
    # LiteLLM's keyword heuristic is the bar issue 4 sets; today the shipped router only ties it on chat prompts
    # (0.656 vs 0.656), so this is a floor against regressions, not a claim that it is beaten.
    assert apgr["costroute-logistic"] >= apgr["litellm-heuristic"] - 0.02, apgr
