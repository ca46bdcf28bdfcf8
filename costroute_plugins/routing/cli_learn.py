"""``costroute learn``: retrain the router on the operator's audited traffic and publish it only when not worse.

One command for the whole loop an operator runs (by hand or from cron): read the audit records the proxy wrote
(``quality.records_path``), turn them into outcome rows (``quality/learn.py``), retrain on the public outcome
files plus those rows, compare the candidate with the live artifact on held-out rows (``routing/retrain.py``),
and publish it to the registry (``routing/registry.py``) that replicas poll, or refuse with the reasons and exit
1. ``--list``, ``--rollback`` and ``--promote`` manage the registry without training.

The second opinion learn may blend in (``routing/blend.py``) is LiteLLM's complexity-router heuristic, built here
from the proxy adapters the way ``eval-router`` builds its baselines (routing itself never imports LiteLLM).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import CommandParser, add_files_flag, add_json_flag
from costroute_plugins.routing.base import TierClassifier
from costroute_plugins.routing.cli_common import add_router_artifact_argument, second_opinions
from costroute_plugins.routing.registry import ArtifactRegistry

SECOND_OPINIONS = ("litellm-heuristic", "none")


def register(parser: CommandParser) -> None:
    parser.description = (
        "Retrain the router on public outcomes plus the operator's audited requests, validate the candidate "
        "against the live artifact on held-out rows, and publish it to --registry only when it is not worse. "
        "Docs: docs/learning.md."
    )
    add_files_flag(parser, "--records", "audit records JSONL (quality.records_path) and thumbs feedback records",
                   required=False)
    add_files_flag(parser, "--outcomes", "public outcomes JSONL the router was trained on, one per dataset",
                   required=False)
    parser.add_argument("--registry", required=True, help="folder of published router versions (created if new)")
    add_router_artifact_argument(parser, "artifact to compare with while the registry has no live version "
                                         "(default: the shipped one); published as v0001 beside the first candidate")
    parser.add_argument("--weight", type=int, default=None,
                        help="the own rows weigh as much as this many public files (default: candidates at 1, 2 "
                             "and 3, the one the gate rates best kept)")
    parser.add_argument("--cheap-tier", help="served tier whose audits to learn from (default: the most audited)")
    parser.add_argument("--premium-tier", help="reference tier (default: the audits' reference tier)")
    parser.add_argument("--min-heldout", type=int, default=50,
                        help="held-out audited rows needed to validate (default 50; about 4x as many audits)")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="own held-out APGR may be this much below live (default 0)")
    parser.add_argument("--public-tolerance", type=float, default=0.02,
                        help="each public file's validation APGR may be this much below live (default 0.02)")
    parser.add_argument("--second-opinion", choices=SECOND_OPINIONS, default="litellm-heuristic",
                        help="scorer whose rank the candidate may blend into its own, at the weight the training "
                             "audits choose (0 included); 'none' trains without (default litellm-heuristic)")
    parser.add_argument("--shadow", action="store_true",
                        help="publish the candidate as shadow (scored beside live, not served) instead of live")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="list the published versions and exit")
    action.add_argument("--rollback", action="store_true", help="make the previous live version live again")
    action.add_argument("--promote", action="store_true", help="make the shadow version live")
    parser.add_argument("--redis-url", help="also publish to Redis, where replicas poll the live version")
    parser.add_argument("--redis-prefix", default="costroute:router:", help="Redis key prefix for --redis-url")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document) if args.json else text)


def _manage(args: argparse.Namespace, registry: ArtifactRegistry) -> int:
    """``--list``, ``--rollback``, ``--promote``: registry operations that train nothing."""
    if args.list:
        versions = registry.versions()
        if not versions and not args.json:
            print(f"{registry.directory}: nothing published yet")
        for info in versions:
            mark = "live" if info.live else "shadow" if info.shadow else ""
            own = info.summary.get("candidate", {}).get("own_apgr", "-")
            _emit(args, info.to_json(), f"{info.version}  {mark:6}  own APGR {own!s:<6}  {info.note}")
        return 0
    version = registry.rollback() if args.rollback else registry.promote()
    what = "rolled back to" if args.rollback else "promoted"
    _emit(args, {"action": "rollback" if args.rollback else "promote", "live": version}, f"{what} {version} (live)")
    return 0


def _text_report(report: dict[str, Any]) -> str:
    records, live, new = report["records"], report["live"], report["candidate"]
    skipped = ", ".join(f"{reason} {n}" for reason, n in records["skipped"].items()) or "none"
    own = report["own_rows"]
    lines = [
        (f"records: {records['rows']} rows ({records['audit_rows']} audited, {records['feedback_rows']} feedback); "
         f"skipped: {skipped}"),
        (f"tiers {report['tiers']['cheap']} -> {report['tiers']['premium']}: trained on {own['own_train']} own rows "
         f"(weight {own['weight']}) + public {', '.join(new['public_apgr'])}; {own['own_heldout']} audited rows "
         "held out"),
        f"{'APGR':<34}{'live (' + report['live_version'] + ')':>20}{'candidate':>12}",
        f"{'own held-out rows':<34}{live['own_apgr']:>20.4f}{new['own_apgr']:>12.4f}",
    ]
    lines += [f"{'public ' + name + ' (validation)':<34}{live['public_apgr'].get(name, float('nan')):>20.4f}"
              f"{value:>12.4f}" for name, value in new["public_apgr"].items()]
    tried = report.get("weights_tried") or {}
    if len(tried) > 1:
        lines.append("own weight " + str(own["weight"]) + " chosen; held-out own APGR by weight: " + ", ".join(
            f"{w} {t['own_apgr']:.4f}{'' if t['passed'] else ' (refused)'}" for w, t in tried.items()))
    blend = report.get("blend")
    if blend:
        tried = ", ".join(f"{w} {apgr:.4f}" for w, apgr in blend["out_of_fold_apgr_by_weight"].items())
        lines.append(f"second opinion {blend['second_opinion']}: weight {blend['weight']:g} "
                     + (f"(out-of-fold APGR on {blend['training_rows']} training audits by weight: {tried})" if tried
                        else f"({blend.get('note', 'not tried')})"))
        if "heldout_apgr_unblended" in blend:
            lines.append(f"{'own held-out rows, without it':<34}{'':>20}{blend['heldout_apgr_unblended']:>12.4f}")
    lines.append(f"rule: {report['rule']}")
    if report["published"]:
        lines.append(f"published {report['published']} ({'shadow' if report['shadow'] else 'live'})")
    return "\n".join(lines)


def _second_opinion(name: str) -> TierClassifier | None:
    """The scorer ``--second-opinion`` names; a LiteLLM without the complexity router cannot provide one."""
    if name == "none":
        return None
    try:
        return second_opinions()[name]()
    except (ImportError, AttributeError) as error:
        raise CliError(f"--second-opinion {name}: this LiteLLM has no complexity router to score with "
                       f"({type(error).__name__}: {error}); upgrade LiteLLM or pass --second-opinion none") from None


def run(args: argparse.Namespace) -> int:
    registry = ArtifactRegistry.open(args.registry, args.redis_url, args.redis_prefix)
    if args.list or args.rollback or args.promote:
        return _manage(args, registry)
    if not args.records or not args.outcomes:
        raise CliError("--records and --outcomes are required to learn (or give --list, --rollback or --promote)")
    if args.weight is not None and args.weight < 1:
        raise CliError(f"argument --weight: {args.weight} is not a count of copies; use 1 or more (e.g. 2)")

    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.quality.learn import default_pair, read_records, rows_for_pair, rows_from_records
    from costroute_plugins.routing.artifact import load_artifact
    from costroute_plugins.routing.blend import BlendError
    from costroute_plugins.routing.retrain import GateRule, retrain

    live_version = registry.live_version()
    live = registry.load(live_version) if live_version else load_artifact(args.router_artifact)
    live_label = live_version or (args.router_artifact or "shipped default")
    learned = rows_from_records(read_records(args.records), top_tier=args.premium_tier)
    pair = default_pair(learned)
    tiers = (args.cheap_tier or (pair[0] if pair else None), args.premium_tier or (pair[1] if pair else None))
    if tiers[0] is None or tiers[1] is None:
        raise CliError(f"{' '.join(args.records)}: no usable audited row ({learned.summary()['skipped']}); "
                       "learn needs routed audits graded 'single' whose texts were stored")
    own, other_pairs = rows_for_pair(learned, tiers[0], tiers[1])
    if other_pairs:
        learned.skipped[f"other tier pair than {tiers[0]} -> {tiers[1]}"] += other_pairs
    rule = GateRule(own_tolerance=args.tolerance, public_tolerance=args.public_tolerance,
                    min_heldout=args.min_heldout)
    try:
        result = retrain(args.outcomes, own, (tiers[0], tiers[1]), live, SentenceTransformerEmbedder(),
                         weight=args.weight, rule=rule, progress=not args.quiet,
                         second_opinion=_second_opinion(args.second_opinion))
    except BlendError as error:
        raise CliError(f"live router {live_label}: {error}") from None
    report = {"records": learned.summary(), "tiers": {"cheap": tiers[0], "premium": tiers[1]},
              "own_rows": result.rows, "live_version": live_label, "live": result.live.to_json(),
              "candidate": result.new.to_json(), "rule": rule.describe(), "passed": result.passed,
              "reasons": result.reasons, "published": None, "shadow": args.shadow,
              "blend": result.blend.to_json() if result.blend is not None else None,
              "weights_tried": {str(w): tried.to_json() for w, tried in result.tried.items()}}
    if result.passed:
        if live_version is None:  # keep what served so far as v0001, so --rollback can return to it
            registry.publish(live, note=f"baseline: {live_label}")
        report["published"] = registry.publish(result.candidate, shadow=args.shadow, note="costroute learn",
                                               summary=result.candidate.training["learn"])
    _emit(args, report, _text_report(report))
    if not result.passed:
        raise CliError(f"candidate not published, {live_label} stays live: " + "; ".join(result.reasons))
    if not args.shadow:
        print(f"replicas polling {registry.directory}{' and Redis' if args.redis_url else ''} switch to "
              f"{report['published']} on their next check", file=sys.stderr)
    return 0
