"""An operator replays a workload with quality audits on (`costroute replay --audit-rate 1.0`) and reads what the
audits cost, what is left of the saving, what the proxy believed its quality was, and how quality moved over the
run, through the real proxy.

One replay for the module (one proxy start): the hand-made workload of ``test_replay_proxy.py`` with long answers,
so a few routed requests save more than an audit is reserved at, and the audit spend cap (here the whole day's
savings) admits audits from the first few requests on.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from costroute_plugins.replay.cli_replay import _summary
from costroute_plugins.replay.workload import write_workload
from tests.harness import write_config
from tests.replay.test_replay_proxy import TIMINGS, handmade_requests

LONG = {"cheap": 1500, "balanced": 1500, "premium": 1500}
WINDOW = 10


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("replay-audits")
    requests = [dataclasses.replace(r, answer_tokens=LONG) for r in handmade_requests()]
    header = {"recipe": {"handmade": True}, "tiers": TIMINGS, "counts": {},
              "tenants": [{"name": "acme", "weight": 1.0, "budget_fraction": None},
                          {"name": "globex", "weight": 1.0, "budget_fraction": None}]}
    write_workload(folder / "workload.jsonl", header, requests)
    config = write_config(folder / "config.yaml", costroute={
        # Premium only from the calibrated 90% quality cut: most hand-made prompts are answered below the top tier.
        "routing": {"tiers": [{"name": "cheap", "cost_per_mtok": 0.24},
                              {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": "share<=0.96"},
                              {"name": "premium", "cost_per_mtok": 10.0, "enter_at": "quality>=0.90"}]},
        "quality": {"max_share_of_savings": 1.0, "max_usd_per_day": 100.0}})
    done = subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "replay", "--workload", str(folder / "workload.jsonl"),
         "--config", str(config), "--audit-rate", "1.0", "--window", str(WINDOW), "--concurrency", "2",
         "--latency-scale", "0.05", "--json", "--work-dir", str(folder / "run")],
        capture_output=True, text=True, timeout=500, cwd=folder, check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:] + (folder / "run" / "proxy.log").read_text()[-4000:]
    capture = [json.loads(line) for line in (folder / "run" / "spend-payloads.jsonl").read_text().splitlines()]
    return {"report": json.loads(done.stdout.strip().splitlines()[-1]), "requests": requests, "capture": capture}


def test_audits_are_paid_for_and_netted_out_of_the_savings(audited):
    report = audited["report"]
    cost, audits = report["cost"], report["audits"]

    assert audits["enabled"] and audits["by_outcome"].get("judged", 0) >= 1
    assert cost["audit_usd"] > 0 and audits["calls"] >= 3  # a reference answer and two judge calls each
    assert cost["net_saving_usd"] == pytest.approx(cost["saving_usd"] - cost["audit_usd"], abs=1e-6)
    assert cost["net_reduction_pct"] < cost["reduction_pct"]
    # The audit calls the replay captured are what the proxy itself counted as audit spend.
    assert audits["spend_usd_proxy_counter"] == pytest.approx(cost["audit_usd"], rel=0.01)
    assert any("quality audits on: routed and cache sample rate 1" in c for c in report["run"]["config_changes"])


def test_the_calls_no_client_made_are_the_audits_of_the_top_tier(audited):
    capture, calls = audited["capture"], audited["report"]["audits"]["calls"]

    assert len(capture) == len(audited["requests"]) + calls  # every request answered, plus the audits' calls
    own = [row for row in capture if not row["costroute"]]  # no costroute fields: not a client's request
    assert len(own) == calls and {row["model_group"] for row in own} == {"premium"}  # the judge is the top tier


def test_quality_is_shown_per_window_of_requests_in_arrival_order(audited):
    report = audited["report"]
    rows = report["windows"]["rows"]

    assert report["windows"]["size"] == WINDOW
    assert [row["first"] for row in rows] == list(range(0, len(audited["requests"]), WINDOW))
    assert sum(row["requests"] for row in rows) == report["requests"]
    assert all(0 <= row["top_share"] <= 1 and row["quality"] >= 0 for row in rows)


def test_the_proxys_own_estimate_sits_beside_the_true_quality(audited):
    quality = audited["report"]["quality"]

    assert "proxy_estimate" in quality  # null until the proxy publishes costroute_quality_overall
    estimate = (quality["proxy_estimate"] or {}).get("value")
    if estimate is not None:
        assert quality["estimate_gap_points"] == pytest.approx(100 * (estimate - quality["relative_to_premium"]),
                                                               abs=0.01)


def test_the_summary_says_what_audits_cost_and_that_the_judge_is_a_stub(audited):
    text = _summary(audited["report"])

    assert "net of audits: saving" in text and "judge: the judge here is a stub" in text
    assert "fixed policies in hindsight" in text
    assert audited["report"]["sweep"]["at_calibration"]["shift"] == 0
