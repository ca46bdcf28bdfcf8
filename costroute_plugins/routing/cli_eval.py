"""``costroute eval-router``: APGR / CPT(50%) / CPT(80%) of the trained router beside baselines, one JSON line each.

All methods score the same rows, and the metrics follow ``routing/apgr.py``'s definitions exactly (ties in
random order, mean over seeds), so the lines compare directly with RouteLLM's published figures.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from tqdm import tqdm

from costroute_plugins.cli.options import CommandParser, add_json_flag
from costroute_plugins.routing.base import TierClassifier
from costroute_plugins.routing.cli_common import (
    add_model_arguments,
    add_outcomes_argument,
    add_router_artifact_argument,
    add_split_argument,
    read_split,
    request_views,
    second_opinions,
)

BASELINES = ("litellm-heuristic", "litellm-heuristic-v2", "random", "length", "rules")


def register(parser: CommandParser) -> None:
    parser.description = "Evaluate routers on outcomes files: one line per method with n, apgr, cpt50, cpt80."
    add_outcomes_argument(parser, "outcomes JSONL, scored together as one set")
    add_model_arguments(parser, required=True, help_suffix="as named in the outcomes' scores")
    add_router_artifact_argument(parser, "trained router artifact (.json); default: the shipped one")
    parser.add_argument("--baseline", action="append", default=[], choices=BASELINES, help="repeatable")
    parser.add_argument("--baselines-only", action="store_true", help="skip the trained router")
    add_split_argument(parser, default="all")
    parser.add_argument("--seeds", type=int, default=10, help="tie-breaking seeds averaged (>= 10 recommended)")
    parser.add_argument("--no-embedding", action="store_true", help="score the trained router on text only")
    parser.add_argument("--no-chit-chat-rule", action="store_true",
                        help="score the trained router without the greeting/thanks floor the proxy applies")
    parser.add_argument("--plot", help="write PGR-vs-premium-share curves to this PNG")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _baseline(name: str) -> TierClassifier:
    if name.startswith("litellm-heuristic"):
        from costroute_plugins.proxy.litellm_heuristic import LiteLLMHeuristicClassifier

        return LiteLLMHeuristicClassifier("heuristic_v2" if name.endswith("v2") else "heuristic")
    from costroute_plugins.routing.baselines import LengthClassifier, RandomClassifier
    from costroute_plugins.routing.rules import RulesClassifier

    return {"random": RandomClassifier, "length": LengthClassifier, "rules": RulesClassifier}[name]()


def _plot(path: str, curves: dict[str, np.ndarray]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5))
    for name, curve in curves.items():
        axes.plot(np.linspace(0, 1, len(curve)), curve, label=name)
    axes.set_xlabel("share of calls sent to premium")
    axes.set_ylabel("performance gap recovered (PGR)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.routing.apgr import mean_pgr_curve, routing_metrics
    from costroute_plugins.routing.artifact import load_artifact
    from costroute_plugins.routing.blend import artifact_classifier
    from costroute_plugins.routing.chitchat import ChitChatFloor
    from costroute_plugins.routing.outcomes import SplitRule, pair_qualities

    artifact = None if args.baselines_only else load_artifact(args.router_artifact)
    rows = read_split(args.outcomes, args.split, artifact.split if artifact else SplitRule())
    qualities = pair_qualities(rows, args.cheap_model, args.premium_model)

    # The trained router is scored as the proxy serves it: with the chit-chat floor unless told otherwise.
    shipped: TierClassifier | None = artifact_classifier(artifact, second_opinions()) if artifact else None
    if shipped is not None and not args.no_chit_chat_rule:
        shipped = ChitChatFloor(shipped)
    methods: list[TierClassifier] = [shipped] if shipped else []
    methods += [_baseline(name) for name in dict.fromkeys(args.baseline)]
    views = request_views(rows, embed=bool(artifact) and not args.no_embedding)
    curves = {}
    for method in methods:
        if method is shipped:
            scores = method.premium_need_batch(views)
        else:
            scores = np.array([method.premium_need(v) for v in tqdm(views, desc=method.name, leave=False)])
        result = routing_metrics(scores, qualities.cheap, qualities.premium, seeds=args.seeds)
        line = {"method": method.name, "n": result.n, "apgr": round(result.apgr, 4), "cpt50": round(result.cpt50, 4),
                "cpt80": round(result.cpt80, 4), "split": args.split, "data": args.outcomes}
        print(json.dumps(line) if args.json else
              f"{method.name:24s} n={result.n:6d}  APGR={result.apgr:.3f}  CPT50={result.cpt50:.3f}  "
              f"CPT80={result.cpt80:.3f}")
        if args.plot:
            curves[method.name] = mean_pgr_curve(scores, qualities.cheap, qualities.premium, seeds=args.seeds)
    if args.plot:
        _plot(args.plot, curves)
    return 0
