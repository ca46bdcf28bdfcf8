"""An operator replays a workload through the real proxy with `costroute replay` and reads the savings report.

One small replay (a few dozen requests, recorded latencies scaled down) runs for the whole module; the tests read
its report and per-request details. The workload is written by hand so that every case is certain to happen:
repeats that the cache answers, a streamed request, and a pair labelled non-duplicate whose second question
differs from the first only in case and punctuation, so the cache's exact tier answers it with the first
question's answer: a wrong answer, which must score 0.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from costroute_plugins.replay.workload import Request, approx_tokens, write_workload
from costroute_plugins.routing.outcomes import read_outcomes
from tests.harness import PROXY_CONFIG, REPO

CHEAP, PREMIUM = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
TIMINGS = {"cheap": {"ttft_ms": 100, "ms_per_token": 2}, "balanced": {"ttft_ms": 200, "ms_per_token": 4},
           "premium": {"ttft_ms": 400, "ms_per_token": 8}}
TRAP_A = "What is the tallest mountain in Europe?"
TRAP_B = "what is the tallest mountain in europe"  # same text to the cache; labelled a different question


def handmade_requests() -> list[Request]:
    outcomes = read_outcomes(REPO / "tests/data/routing_heldout.jsonl")[:16]
    requests: list[Request] = []

    def add(tenant: str, prompt: str, qid: str, scores: dict, kind: str = "fresh", stream: bool = False,
            **extra) -> Request:
        request = Request(n=len(requests), tenant=tenant, kind=kind, stream=stream, prompt=prompt, qid=qid,
                          scores=scores, answer_tokens={"cheap": 60, "balanced": 60, "premium": 60},
                          prompt_tokens=approx_tokens(prompt), source=qid, **extra)
        requests.append(request)
        return request

    firsts = []
    for index, outcome in enumerate(outcomes):
        cheap, premium = outcome.scores[CHEAP], outcome.scores[PREMIUM]
        scores = {"cheap": cheap, "balanced": (cheap + premium) / 2, "premium": premium}
        firsts.append(add("acme" if index % 2 else "globex", outcome.text, outcome.id, scores, stream=index % 4 == 0))
    trap = add("acme", TRAP_A, "trap/a", {"cheap": 1.0, "balanced": 1.0, "premium": 1.0}, kind="pair-a")
    for first in firsts[:12]:  # repeats by the same tenant, some streamed
        add(first.tenant, first.prompt, first.qid, dict(first.scores), kind="repeat", stream=first.n % 3 == 0,
            duplicate=True, original=first.n)
    add("acme", TRAP_B, "trap/b", {"cheap": 1.0, "balanced": 1.0, "premium": 1.0}, kind="pair-b",
        duplicate=False, original=trap.n)
    return requests


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("replay")
    requests = handmade_requests()
    header = {"recipe": {"handmade": True}, "tiers": TIMINGS, "counts": {},
              "tenants": [{"name": "acme", "weight": 1.0, "budget_fraction": 0.5},
                          {"name": "globex", "weight": 1.0, "budget_fraction": None}]}
    write_workload(folder / "workload.jsonl", header, requests)
    done = subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "replay", "--workload", str(folder / "workload.jsonl"),
         "--config", str(PROXY_CONFIG), "--concurrency", "1", "--latency-scale", "0.2", "--json",
         "--work-dir", str(folder / "run"), "--details", str(folder / "details.jsonl"),
         "--plot", str(folder / "chart.png")],
        capture_output=True, text=True, timeout=400, cwd=folder,
    )
    assert done.returncode == 0, done.stderr[-4000:] + (folder / "run" / "proxy.log").read_text()[-4000:]
    details = [json.loads(line) for line in (folder / "details.jsonl").read_text().splitlines()]
    return {"report": json.loads(done.stdout.strip().splitlines()[-1]), "details": details,
            "requests": requests, "folder": folder}


def test_costs_add_up_to_the_proxys_per_request_costs(replayed):
    report, details = replayed["report"], replayed["details"]
    cost = report["cost"]

    assert report["requests"] == len(details) == len(replayed["requests"])
    assert cost["actual_usd"] == pytest.approx(sum(d["cost_usd"] for d in details), abs=1e-6)
    assert cost["always_premium_usd"] == pytest.approx(sum(d["premium_usd"] for d in details), abs=1e-6)
    assert sum(cost["saving_by"].values()) == pytest.approx(cost["always_premium_usd"] - cost["actual_usd"],
                                                            abs=1e-6)
    assert cost["sources"] == {"spend-log": len(details)}  # every cost is the proxy's own, streams included
    assert all(d["cost_usd"] == 0 for d in details if d["served_by"] == "cache")
    assert cost["saving_by"]["cache"] > 0 and cost["reduction_pct"] > 0


def test_shares_sum_to_one_and_every_answer_is_scored(replayed):
    report, details = replayed["report"], replayed["details"]

    assert sum(report["tier_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert set(report["tier_shares"]) <= {"cache", "cheap", "balanced", "premium"}
    assert report["quality"]["unscored_answers"] == 0
    assert any(d["stream"] and d["ttft_s"] is not None for d in details)
    assert report["latency_s"]["p50"] <= report["latency_s"]["p95"]
    assert (replayed["folder"] / "chart.png").stat().st_size > 10_000


def test_a_cache_hit_on_a_non_duplicate_scores_zero_and_a_repeat_scores_what_its_original_got(replayed):
    details = {d["n"]: d for d in replayed["details"]}
    requests = replayed["requests"]
    trap_b = next(r for r in requests if r.kind == "pair-b")

    assert details[trap_b.n]["served_by"] == "cache"
    assert details[trap_b.n]["answer_qid"] == "trap/a" and details[trap_b.n]["score"] == 0.0
    assert details[trap_b.n]["cache_similarity"] == 1.0  # the same text to the cache: its exact tier answered
    assert replayed["report"]["quality"]["cache_hits_wrong_question"] == 1
    hits = [r for r in requests if r.kind == "repeat" and details[r.n]["served_by"] == "cache"]
    assert len(hits) >= 6
    for repeat in hits:
        assert details[repeat.n]["score"] == details[repeat.original]["score"]


def test_the_report_says_what_the_replay_changed_in_the_config(replayed):
    changes = " | ".join(replayed["report"]["run"]["config_changes"])

    assert "semantic cache switched on" not in changes  # the shipped config has it on already
    assert "1 daily tenant budgets" in changes
    assert "auto: classifier timeout 500 -> 5000 ms" in changes
    assert replayed["report"]["run"]["budgets"][0]["match"] == "acme"
