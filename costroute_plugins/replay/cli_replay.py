"""``costroute replay``: a workload through the real proxy against stub tiers; cost and quality vs premium."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import overload

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag
from costroute_plugins.replay.loop_summary import loop_lines, side_by_side


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a workload (costroute make-workload) through the real LiteLLM proxy started from "
                          "CONFIG, its tiers answered by stubs replaying recorded outcomes, every plugin on. "
                          "Reports cost and quality against always-premium, the saving by cache / routing / "
                          "budget, latency and tier shares, and why re-asked questions missed the cache; with "
                          "quality audits on, their spend and the savings net of it, the proxy's own quality "
                          "estimate against the true quality, the quality loop's moves, and the best fixed "
                          "routing policy in hindsight.")
    parser.add_argument("--workload", required=True, help="workload JSONL from costroute make-workload")
    parser.add_argument("--config", default="proxy_config.yaml", help="proxy config to replay (%(default)s)")
    parser.add_argument("--plot", help="write a PNG chart here")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (%(default)s)")
    parser.add_argument("--latency-scale", type=float, default=1.0,
                        help="multiply the tiers' recorded latencies (e.g. 0.1 for a quick run; %(default)s)")
    parser.add_argument("--router-timeout-ms", type=int, default=5000,
                        help="raise the router classifier's timeout to this where the config's is lower, so a "
                        "loaded machine measures the router rather than LiteLLM's fallback; 0 keeps the config's "
                        "(%(default)s)")
    parser.add_argument("--limit", type=int, help="replay only the first N requests")
    parser.add_argument("--work-dir", help="keep the derived config, stub answers and logs here")
    parser.add_argument("--details", help="write one JSON line per scored request here (a re-asked request that "
                        "missed the cache says why: repeat_miss, repeat_miss_detail)")
    parser.add_argument("--audit-rate", type=float, metavar="R",
                        help="switch quality audits on: sample this share of routed answers and of cache hits, "
                        "graded by the top tier (its stub grades with the recorded scores); the report nets "
                        "their spend out of the savings and sets the proxy's own quality estimate beside the "
                        "true quality (default: the config's quality settings)")
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument("--loop", choices=("on", "off"),
                      help="the quality loop (costroute.quality.loop) on or off; on needs audits (--audit-rate) "
                      "(default: the config's)")
    loop.add_argument("--compare-loop", action="store_true",
                      help="replay twice, loop on then loop off, a fresh proxy each, and report them side by "
                      "side (--json: one report per line)")
    parser.add_argument("--window", type=int, default=250, metavar="N",
                        help="report quality and the top tier's share per N requests in arrival order "
                        "(%(default)s)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _summary(report: dict) -> str:
    cost, quality, latency = report["cost"], report["quality"], report["latency_s"]
    saving = cost["saving_by"]
    lines = [
        f"requests: {report['requests']}  (workload {report['run']['workload_counts']})",
        *[f"config: {change}" for change in report["run"]["config_changes"]],
        (f"cost: {cost['actual_usd']:.4f} USD vs always-premium {cost['always_premium_usd']:.4f} USD "
         f"-> reduction {cost['reduction_pct']:.2f}%"),
        f"saving by: cache {saving['cache']:.4f}, routing {saving['routing']:.4f}, budget {saving['budget']:.4f} USD",
        (f"quality: served {quality['served_mean']:.4f} vs always-premium {quality['always_premium_mean']:.4f} "
         f"-> loss {quality['loss_pct']:.2f}%  (cache hits {quality['cache_hits']}, on a wrong question "
         f"{quality['cache_hits_wrong_question']})"),
        "quality loss by cause (points): " + ", ".join(
            f"{cause.replace('_', ' ')} {points:.2f}" for cause, points in quality["loss_points_by_cause"].items()),
        "quality loss by slice (points): " + ", ".join(
            f"{name.replace('_', ' ')} {part['loss_points']:.2f} ({part['requests']} requests)"
            for name, part in quality["loss_points_by_slice"].items()),
        (f"latency: p50 {latency['p50']} s, p95 {latency['p95']} s; streamed first token p50 "
         f"{latency['streamed_ttft_p50']} s"),
        "served by: " + ", ".join(f"{name} {share:.1%}" for name, share in report["tier_shares"].items()),
        _repeat_line(report["cache"]),
        *loop_lines(report),
    ]
    fallbacks = report["router"]["classifier_fallbacks"]
    if fallbacks:
        lines.append(f"warning: {fallbacks} requests got LiteLLM's fallback tier, not the classifier's "
                     f"({report['router']['fallback_reasons']}); an overloaded machine makes the router time out")
    return "\n".join(lines)


def _repeat_line(cache: dict) -> str:
    """Re-asked requests the cache did not serve, by why: a recall leak visible in one run."""
    reasons = ", ".join(f"{count} {reason}" for reason, count in cache["repeat_misses_by_reason"].items())
    return (f"re-asked: {cache['reasked']} requests, {cache['reasked_hits']} served from the cache, "
            f"{cache['repeat_misses']} missed" + (f": {reasons}" if reasons else ""))


def _checked(args: argparse.Namespace) -> None:
    """Flag values no parser type can check, refused before anything starts."""
    if args.audit_rate is not None and not 0.0 < args.audit_rate <= 1.0:
        raise CliError(f"argument --audit-rate: {args.audit_rate!r} is not a share above 0; use e.g. 0.2 "
                       "(1.0 audits every answer)")
    if args.window < 1:
        raise CliError(f"argument --window: {args.window!r} requests; use a positive number, e.g. 250")


@overload
def _suffixed(path: str, label: str | None) -> str: ...


@overload
def _suffixed(path: str | None, label: str | None) -> str | None: ...


def _suffixed(path: str | None, label: str | None) -> str | None:
    """``replay.png`` -> ``replay-loop-on.png``: each run of a comparison keeps its own file."""
    if path is None or label is None:
        return path
    target = Path(path)
    return str(target.with_name(f"{target.stem}-{label}{target.suffix}"))


def _one(args: argparse.Namespace, workload, loop: bool | None, label: str | None) -> dict:
    """One replay with its plot and details files; the report."""
    from costroute_plugins.replay.report import scored_rows
    from costroute_plugins.replay.runner import replay

    try:
        result = replay(workload, args.config, concurrency=args.concurrency, latency_scale=args.latency_scale,
                        router_timeout_ms=args.router_timeout_ms or None,
                        work_dir=str(Path(args.work_dir) / label) if args.work_dir and label else args.work_dir,
                        progress=not args.json, audit_rate=args.audit_rate, loop=loop, window=args.window)
    except RuntimeError as error:  # the proxy or a stub did not start: its message names the log to read
        raise CliError(str(error)) from error
    report = result.report
    if args.plot:
        from costroute_plugins.replay.plot import plot_replay

        report["run"]["plot"] = str(plot_replay(report, _suffixed(args.plot, label)))
    details = _suffixed(args.details, label)
    if details:
        with open(details, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in scored_rows(result.scored))
    return report


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.replay.workload import read_workload

    _checked(args)
    workload = read_workload(args.workload)
    if args.limit:
        workload.requests = workload.requests[: args.limit]
    if not args.compare_loop:
        report = _one(args, workload, None if args.loop is None else args.loop == "on", None)
        print(json.dumps(report) if args.json else _summary(report))
        return 0
    on = _one(args, workload, True, "loop-on")
    off = _one(args, workload, False, "loop-off")
    if args.json:
        print(json.dumps(on))
        print(json.dumps(off))
    else:
        print("\n\n".join(["== loop on ==\n" + _summary(on), "== loop off ==\n" + _summary(off),
                           side_by_side(on, off)]))
    return 0
