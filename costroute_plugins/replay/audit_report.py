"""The quality loop's part of a replay report: what the audits cost, what the proxy believes, what the loop did.

Audits are not free: each fetches a top-tier answer and makes two judge calls, all billed as costroute's own
spend. A saving that ignores them overstates what costroute saves, so the report nets them out: ``net_saving_usd
= saving_usd - audit_usd``. Their cost comes from the spend-log payloads the replay captures: every call the
proxy logged that no client request got back (its call id is in no response's ``x-litellm-call-id``) is one of
costroute's own, and in a replay the only ones are audit calls (reference answers and judge calls). The
proxy's own counter of audit spend is kept beside it as a cross-check.

The proxy's estimate of its quality (``scrape.Readings.overall``, routed traffic only) is set against the true
quality the replay measures from recorded scores: the gap says how far an operator can trust the estimate. It is
compared both with the replay's quality figure (all traffic, cache hits included) and with the routed traffic's
own, which is what the estimate measures. Here the judge is a stub grading with the recorded scores; the gap
left is the audits' sampling and the 1-10 scale (a wrong answer rates 1, not 0), not a judge's errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from costroute_plugins.replay.scrape import Readings

JUDGE_NOTE = ("the judge here is a stub grading with the recorded scores (rating = 10 x score on the 1-10 "
              "scale); a real deployment uses an LLM judge, whose errors add to the estimate's")


def own_calls(rows: Mapping[str, Mapping[str, Any]], client_ids: Iterable[str]) -> list[Mapping[str, Any]]:
    """Captured payloads of the calls no client request made: in a replay, the audits' calls."""
    clients = set(client_ids)
    return [row for call_id, row in rows.items() if call_id not in clients]


def _gap(estimate: float | None, true: float | None) -> float | None:
    return round(100 * (estimate - true), 2) if estimate is not None and true is not None else None


def add_quality_loop(report: dict[str, Any], audit_calls: list[Mapping[str, Any]], readings: Readings | None,
                     audits_on: bool, loop_on: bool) -> None:
    """Audit spend and net savings, the proxy's estimate against the truth, and the loop's moves, into
    ``report`` (built by ``report.build_report``)."""
    cost, quality = report["cost"], report["quality"]
    audit_usd = sum(float(row.get("response_cost") or 0.0) for row in audit_calls)
    baseline = cost["always_premium_usd"]
    cost["audit_usd"] = round(audit_usd, 6)
    cost["net_saving_usd"] = round(cost["saving_usd"] - audit_usd, 6)
    cost["net_reduction_pct"] = round(100 * (1 - (cost["actual_usd"] + audit_usd) / baseline), 2) if baseline \
        else 0.0

    overall = dict(readings.overall) if readings is not None and readings.overall else None
    estimate = overall.get("value") if overall and overall.get("count") else None
    quality["proxy_estimate"] = overall
    quality["estimate_gap_points"] = _gap(estimate, quality["relative_to_premium"])
    quality["estimate_gap_points_routed"] = _gap(estimate, quality.get("routed_relative_to_premium"))

    report["audits"] = {
        "enabled": audits_on, "calls": len(audit_calls), "spend_usd": round(audit_usd, 6),
        "spend_usd_proxy_counter": readings.audit_spend_usd if readings is not None else None,
        "sampled": readings.sampled if readings is not None else None,
        "by_outcome": dict(readings.audits) if readings is not None else {},
        "judge": JUDGE_NOTE if audits_on else None,
    }
    report["loop"] = {"enabled": loop_on, "shift": readings.loop_shift if readings is not None else None,
                      "changes": readings.loop_changes if readings is not None else None}
