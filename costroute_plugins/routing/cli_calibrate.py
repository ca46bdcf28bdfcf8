"""``costroute calibrate``: turn a quality or cost target into a threshold on validation data.

It prints the threshold with what it buys (premium share, quality kept, PGR, cost relative to sending
everything to premium) and, with ``--out``, writes an artifact whose calibration table holds the entry, so a
router tier can say ``enter_at: quality>=0.97``.
"""

from __future__ import annotations

import argparse
import json
import sys

from costroute_plugins.cli.options import CommandParser, add_json_flag
from costroute_plugins.routing.cli_common import (
    add_model_arguments,
    add_outcomes_argument,
    add_router_artifact_argument,
    add_split_argument,
    read_split,
    request_views,
    second_opinions,
)


def register(parser: CommandParser) -> None:
    parser.description = "Find the score threshold meeting a quality or premium-share target on validation data."
    add_router_artifact_argument(parser, "router artifact (.json); default: the shipped one")
    add_outcomes_argument(parser, "outcomes JSONL with both models' scores")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--quality-target", type=float, help="keep at least this fraction of premium quality")
    target.add_argument("--max-premium-share", type=float, help="send at most this fraction of calls to premium")
    add_model_arguments(parser, required=False, help_suffix="as named in the outcomes' scores (default: the "
                                                            "artifact's)")
    parser.add_argument("--cheap-cost", type=float, help="cheap model price, any unit (for the cost estimate)")
    parser.add_argument("--premium-cost", type=float, help="premium model price, same unit")
    add_split_argument(parser, default="validation")
    parser.add_argument("--out", help="write the artifact with this entry added to its calibration table")
    add_json_flag(parser, always=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.routing.artifact import load_artifact, save_artifact
    from costroute_plugins.routing.blend import artifact_classifier
    from costroute_plugins.routing.calibration import calibrate, target_key
    from costroute_plugins.routing.outcomes import pair_qualities

    artifact = load_artifact(args.router_artifact)
    rows = read_split(args.outcomes, args.split, artifact.split)
    qualities = pair_qualities(rows, args.cheap_model or artifact.cheap_model,
                               args.premium_model or artifact.premium_model)
    key = target_key(quality=args.quality_target, share=args.max_premium_share)
    # a blended artifact's thresholds are on its blended score (routing/blend.py)
    scores = artifact_classifier(artifact, second_opinions()).premium_need_batch(request_views(rows, embed=True))
    entry = calibrate(scores, qualities.cheap, qualities.premium, key)
    report = {"n": len(rows), "split": args.split, **entry.to_json()}
    if args.cheap_cost is not None and args.premium_cost:
        report["cost_vs_all_premium"] = round(
            entry.premium_share + (1 - entry.premium_share) * args.cheap_cost / args.premium_cost, 4)
    print(json.dumps(report))
    if args.out:
        path = save_artifact(artifact.with_calibration(entry), args.out)
        print(f"wrote {path}", file=sys.stderr)
    return 0
