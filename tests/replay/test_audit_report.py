"""A replay with quality audits on: the report nets the audits' spend out of the savings, sets the proxy's own
quality estimate (read from its /metrics) beside the true quality, and says what the loop did; a proxy that
publishes no loop series gives nulls, not an error."""

from __future__ import annotations

import pytest

from costroute_plugins.cli import main
from costroute_plugins.config import SECTION, parse_config
from costroute_plugins.replay.audit_report import add_quality_loop, own_calls
from costroute_plugins.replay.derive import derive
from costroute_plugins.replay.report import build_report, score_request
from costroute_plugins.replay.scrape import parse
from costroute_plugins.replay.workload import write_workload
from tests.harness import PROXY_CONFIG
from tests.replay.test_replay_proxy import TIMINGS, handmade_requests
from tests.replay.test_report import RATES, request, served

EXPOSITION = """\
# TYPE costroute_quality_overall gauge
costroute_quality_overall{bound="value"} 0.93
costroute_quality_overall{bound="lower"} 0.88
costroute_quality_overall{bound="upper"} 0.98
costroute_quality_overall{bound="count"} 14.0
# TYPE costroute_quality_loop_shift gauge
costroute_quality_loop_shift 0.15
# TYPE costroute_quality_loop_changes counter
costroute_quality_loop_changes_total{direction="tighten"} 2.0
costroute_quality_loop_changes_total{direction="loosen"} 1.0
# TYPE costroute_quality_audits counter
costroute_quality_audits_total{kind="routed",outcome="judged"} 14.0
costroute_quality_audits_total{kind="cache",outcome="judged"} 2.0
costroute_quality_audits_total{kind="routed",outcome="capped"} 3.0
# TYPE costroute_quality_sampling counter
costroute_quality_sampling_total{reason="sampled"} 19.0
costroute_quality_sampling_total{reason="top_tier"} 40.0
# TYPE costroute_quality_audit_spend_usd counter
costroute_quality_audit_spend_usd_total 0.0021
"""


def small_report() -> dict:
    requests = [request(0, "q0"), request(1, "q1"), request(2, "q0", kind="repeat")]
    replies = [served(0, "q0", "premium", 1.0), served(1, "q1", "cheap", 0.0),
               served(2, "q0", "premium", 1.0, cache="hit")]
    scored = [score_request(r, s, c, RATES, "premium", {}, {}) for r, (s, c) in zip(requests, replies)]
    return build_report(requests, scored, RATES, "premium", {}, window=2)


def test_audit_spend_is_netted_out_of_the_savings():
    report = small_report()
    captured = {"client-1": {"response_cost": 0.5}, "audit-ref": {"response_cost": 0.0002},
                "audit-judge": {"response_cost": 0.0001}}

    add_quality_loop(report, own_calls(captured, {"client-1"}), parse(EXPOSITION), audits_on=True, loop_on=True)

    cost = report["cost"]
    assert report["audits"]["calls"] == 2 and cost["audit_usd"] == pytest.approx(0.0003)
    assert cost["net_saving_usd"] == pytest.approx(cost["saving_usd"] - 0.0003, abs=1e-9)
    assert cost["net_reduction_pct"] == pytest.approx(
        100 * (1 - (cost["actual_usd"] + 0.0003) / cost["always_premium_usd"]), abs=0.01)
    assert report["audits"]["spend_usd_proxy_counter"] == 0.0021
    assert report["audits"]["by_outcome"] == {"judged": 16.0, "capped": 3.0}
    assert "stub" in report["audits"]["judge"] and "LLM judge" in report["audits"]["judge"]


def test_the_proxys_estimate_sits_beside_the_true_quality_with_the_gap_in_points():
    report = small_report()

    add_quality_loop(report, [], parse(EXPOSITION), audits_on=True, loop_on=True)

    quality = report["quality"]
    assert quality["proxy_estimate"] == {"value": 0.93, "lower": 0.88, "upper": 0.98, "count": 14.0}
    assert quality["estimate_gap_points"] == pytest.approx(100 * (0.93 - quality["relative_to_premium"]), abs=0.01)
    # Routed answers alone (no cache hits): premium 1 of 1, cheap 0 of 1 -> 0.5.
    assert quality["routed_relative_to_premium"] == 0.5
    assert quality["estimate_gap_points_routed"] == pytest.approx(43.0)
    assert report["loop"] == {"enabled": True, "shift": 0.15, "changes": {"tighten": 2.0, "loosen": 1.0}}


def test_windows_follow_arrival_order():
    rows = small_report()["windows"]["rows"]

    assert [(row["first"], row["last"], row["requests"]) for row in rows] == [(0, 1, 2), (2, 2, 1)]
    assert rows[0]["quality"] == 0.5 and rows[0]["top_share"] == 0.5 and rows[1]["cache_share"] == 1.0


def test_a_proxy_without_the_loops_series_reports_nulls():
    report = small_report()
    readings = parse('# TYPE costroute_quality_audits counter\n'
                     'costroute_quality_audits_total{kind="routed",outcome="judged"} 3.0\n')

    add_quality_loop(report, [], readings, audits_on=True, loop_on=False)

    assert report["quality"]["proxy_estimate"] is None and report["quality"]["estimate_gap_points"] is None
    assert report["loop"] == {"enabled": False, "shift": None, "changes": None}
    add_quality_loop(report, [], None, audits_on=False, loop_on=False)  # /metrics unreachable
    assert report["audits"]["by_outcome"] == {} and report["cost"]["net_saving_usd"] == report["cost"]["saving_usd"]


DOCUMENT = {"model_list": [{"model_name": t, "litellm_params": {"model": f"openai/{t}"}}
                           for t in ("cheap", "balanced", "premium")],
            SECTION: {"tiers": ["cheap", "balanced", "premium"]}}
STUBS = {t: f"http://127.0.0.1:9/{t}/v1" for t in ("cheap", "balanced", "premium")}


def test_audit_rate_and_loop_switch_them_on_in_the_derived_config_and_say_so():
    derived = derive(DOCUMENT, STUBS, "sk-m", [], audit_rate=0.2, loop=True)

    quality = parse_config(derived.document[SECTION]).quality
    assert (quality.enabled, quality.routed_sample_rate, quality.cache_sample_rate, quality.judge) == \
        (True, 0.2, 0.2, "premium")
    assert quality.loop.enabled
    assert any("quality audits on" in change for change in derived.changes)
    assert any(change.startswith("quality loop on") for change in derived.changes)


def test_the_loop_without_audits_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="--loop on needs quality audits.*--audit-rate"):
        derive(DOCUMENT, STUBS, "sk-m", [], loop=True)


def test_replay_flags_the_config_cannot_take_are_one_line_errors_before_anything_starts(tmp_path, capsys):
    workload = tmp_path / "workload.jsonl"
    write_workload(workload, {"tiers": TIMINGS, "tenants": []}, handmade_requests()[:2])

    assert main(["replay", "--workload", str(workload), "--audit-rate", "1.5"]) == 1
    assert "--audit-rate: 1.5 is not a share" in capsys.readouterr().err
    # The shipped config has audits off: the loop would have no evidence.
    assert main(["replay", "--workload", str(workload), "--config", str(PROXY_CONFIG), "--loop", "on",
                 "--work-dir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--loop on needs quality audits" in err[0] and "--audit-rate" in err[0]
    assert not (tmp_path / "run" / "proxy.log").exists()
