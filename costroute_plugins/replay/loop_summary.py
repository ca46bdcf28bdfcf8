"""The text ``costroute replay`` prints about audits and the quality loop, and the loop-on / loop-off comparison.

A reader deciding whether to turn the loop on needs, in a few lines: what the audits cost and what is left of
the saving once they are paid; how close the proxy's own quality estimate came to the truth; where the loop
settled; whether each window of traffic kept the target; and how the loop compares with the best fixed policy
in hindsight. Every figure comes from the JSON report (``report.py``, ``audit_report.py``, ``sweep.py``).
"""

from __future__ import annotations

from typing import Any


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def _estimate(quality: dict[str, Any]) -> str:
    estimate = quality.get("proxy_estimate")
    if not estimate or estimate.get("value") is None:
        return "proxy estimate: none published (too few judged audits, or this proxy has no overall estimate)"
    routed, gap_routed = quality.get("routed_relative_to_premium"), quality.get("estimate_gap_points_routed")
    return (f"proxy estimate: {estimate['value']:.4f} [{estimate.get('lower', float('nan')):.4f}, "
            f"{estimate.get('upper', float('nan')):.4f}] from {estimate.get('count', 0):.0f} audits vs true "
            f"{quality['relative_to_premium']:.4f}: gap {quality['estimate_gap_points']:+.2f} points"
            + ("" if routed is None or gap_routed is None else
               f" (routed answers alone: true {routed:.4f}, gap {gap_routed:+.2f})"))


def _loop(loop: dict[str, Any]) -> str:
    if not loop.get("enabled"):
        return "quality loop: off"
    changes = loop.get("changes") or {}
    shift = loop.get("shift")
    return (f"quality loop: on, shift {'n/a' if shift is None else f'{shift:+.3f}'} (share of traffic moved up), "
            f"changes: {changes.get('tighten', 0):.0f} tighten, {changes.get('loosen', 0):.0f} loosen"
            + ("" if loop.get("changes") is not None else " (not published by this proxy)"))


def _sweep(report: dict[str, Any]) -> str | None:
    sweep = report.get("sweep")
    if not sweep or "error" in sweep:
        return f"sweep: {sweep['error']}" if sweep else None
    calibrated, best = sweep["at_calibration"], sweep["cheapest_meeting_target"]
    live = (f"live run {report['quality']['relative_to_premium']:.4f} quality at "
            f"-{report['cost']['reduction_pct']:.2f}% cost")
    head = (f"fixed policies in hindsight (target {sweep['target']:g}): calibration (shift 0) "
            f"{calibrated['quality']:.4f} at -{calibrated['reduction_pct']:.2f}%; ")
    if best is None:
        return head + f"none of shifts {sweep['shifts']} meets the target; {live}"
    return (head + f"cheapest meeting it: shift {best['shift']:+.2f}, {best['quality']:.4f} at "
            f"-{best['reduction_pct']:.2f}% (top tier {_pct(best['top_share'])}); {live}")


def window_lines(report: dict[str, Any]) -> list[str]:
    windows = report.get("windows") or {}
    rows = windows.get("rows") or []
    if len(rows) < 2:
        return []
    return [f"per {windows['size']} requests (quality, top tier share, loop shift):"] + [
        f"  {row['first']}-{row['last']}: {row['quality']:.4f}, {_pct(row['top_share'])}, "
        + ("-" if row["shift_mean"] is None else f"{row['shift_mean']:+.3f}") for row in rows]


def loop_lines(report: dict[str, Any]) -> list[str]:
    """The audit and loop lines of one run's summary (only the windows when audits are off)."""
    audits, cost = report.get("audits") or {}, report["cost"]
    if not audits.get("enabled"):
        return window_lines(report)
    outcomes = ", ".join(f"{count:.0f} {name}" for name, count in sorted(audits.get("by_outcome", {}).items()))
    counter = audits.get("spend_usd_proxy_counter")
    lines = [
        f"audits: {audits['calls']} calls, {audits['spend_usd']:.4f} USD"
        + ("" if counter is None else f" (proxy's counter {counter:.4f})")
        + (f"; outcomes: {outcomes}" if outcomes else ""),
        (f"net of audits: saving {cost['net_saving_usd']:.4f} USD (= {cost['saving_usd']:.4f} - "
         f"{cost['audit_usd']:.4f}) -> reduction {cost['net_reduction_pct']:.2f}%"),
        _estimate(report["quality"]),
        _loop(report.get("loop") or {}),
        *window_lines(report),
    ]
    sweep = _sweep(report)
    if sweep:
        lines.append(sweep)
    lines.append(f"judge: {audits['judge']}")
    return lines


def side_by_side(on: dict[str, Any], off: dict[str, Any]) -> str:
    """The two runs of ``--compare-loop`` as one table: same workload, a fresh proxy each."""
    def row(name: str, pick) -> str:
        return f"  {name:<28}{pick(on):>18}{pick(off):>18}"

    def estimate(report: dict[str, Any]) -> str:
        value = (report["quality"].get("proxy_estimate") or {}).get("value")
        return "n/a" if value is None else f"{value:.4f}"

    def shift(report: dict[str, Any]) -> str:
        loop = report.get("loop") or {}
        return "off" if not loop.get("enabled") else (
            "n/a" if loop.get("shift") is None else f"{loop['shift']:+.3f}")

    def worst(report: dict[str, Any]) -> str:
        rows = (report.get("windows") or {}).get("rows") or []
        return f"{min(r['quality'] for r in rows):.4f}" if rows else "n/a"

    lines = [f"  {'':<28}{'loop on':>18}{'loop off':>18}",
             row("cost reduction", lambda r: f"-{r['cost']['reduction_pct']:.2f}%"),
             row("audit spend USD", lambda r: f"{r['cost'].get('audit_usd', 0):.4f}"),
             row("net cost reduction", lambda r: f"-{r['cost'].get('net_reduction_pct', 0):.2f}%"),
             row("true quality", lambda r: f"{r['quality']['relative_to_premium']:.4f}"),
             row("proxy estimate", estimate),
             row("worst window quality", worst),
             row("top tier share", lambda r: _pct(r["tier_shares"].get(r["run"]["tiers"][-1], 0.0))),
             row("loop shift", shift)]
    return "\n".join(["loop on vs loop off (same workload, fresh proxy each):", *lines])
