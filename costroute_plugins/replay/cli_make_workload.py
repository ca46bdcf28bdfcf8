"""``costroute make-workload``: outcomes JSONL + pairs JSONL -> a replay workload (recipe in ``recipe.py``).

``--pairs`` is optional: chat outcomes (Arena) make a workload of held-out prompts and repeats alone, and then the
paraphrase share defaults to 0 instead of silently turning pair draws into fresh prompts.
"""

from __future__ import annotations

import argparse
import json

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_files_flag, add_json_flag
from costroute_plugins.replay.recipe import Recipe, build


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Build a replay workload: held-out outcome prompts, exact repeats and paraphrase pairs "
                          "from several tenants with budgets, streamed and not. Defaults are documented in "
                          "costroute_plugins/replay/recipe.py and docs/savings-replay.md.")
    defaults = Recipe()
    add_files_flag(parser, "--outcomes", "outcomes JSONL (costroute import-routellm)")
    add_files_flag(parser, "--pairs", "pairs JSONL (costroute import-pairs), .tsv, .json (optional)", required=False)
    parser.add_argument("--out", required=True, help="workload JSONL to write")
    parser.add_argument("--n", type=int, default=defaults.n, help="requests (default %(default)s)")
    parser.add_argument("--tenants", type=int, default=defaults.tenants, help="tenants, Zipf volumes (%(default)s)")
    parser.add_argument("--repeat-share", type=float, default=defaults.repeat_share,
                        help="share of requests re-asking an earlier prompt of the same tenant (%(default)s)")
    parser.add_argument("--paraphrase-share", type=float,
                        help="share of requests that are a pair's second question; as many again send the "
                        f"first ({defaults.paraphrase_share} with --pairs, else 0)")
    parser.add_argument("--stream-share", type=float, default=defaults.stream_share,
                        help="share of streamed requests (%(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--split", choices=("test", "validation", "train", "all"), default=defaults.split,
                        help="outcome rows to draw from, by the router artifact's split rule (%(default)s: held "
                        "out from training and calibration)")
    parser.add_argument("--router-artifact", help="artifact whose split rule selects held-out rows (default: shipped)")
    parser.add_argument("--cheap-model", default=defaults.cheap_model, help="outcomes model scoring the cheap tier")
    parser.add_argument("--premium-model", default=defaults.premium_model,
                        help="outcomes model scoring the premium tier")
    parser.add_argument("--balanced-gap", type=float, default=defaults.balanced_gap,
                        help="share of the cheap-to-premium quality gap the balanced tier closes (%(default)s); "
                        "ignored with --balanced-model")
    parser.add_argument("--balanced-model", help="outcomes model whose recorded scores the balanced tier gets "
                        "(default: none, --balanced-gap instead)")
    parser.add_argument("--each-tenant-asks-all", action="store_true",
                        help="every tenant asks each held-out prompt once, in its own order, so a small held-out "
                        "set gives up to tenants x prompts routed requests (the cache is per tenant)")
    parser.add_argument("--answer-tokens", type=int, default=defaults.answer_tokens,
                        help="median answer length in tokens (%(default)s)")
    parser.add_argument("--budget-fraction", type=float, default=defaults.budget_fraction,
                        help="each tenant's daily cap as a share of its always-premium cost; 0: no budgets "
                        "(%(default)s)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.cache.pairs import load_pairs
    from costroute_plugins.replay.workload import write_workload
    from costroute_plugins.routing.artifact import load_artifact
    from costroute_plugins.routing.outcomes import read_outcomes

    pair_files = args.pairs or []
    if args.paraphrase_share and not pair_files:
        raise CliError("--paraphrase-share needs --pairs (the paraphrase questions come from a pairs file)")
    paraphrase_share = args.paraphrase_share if args.paraphrase_share is not None else (
        Recipe.paraphrase_share if pair_files else 0.0)
    recipe = Recipe(n=args.n, tenants=args.tenants, repeat_share=args.repeat_share,
                    paraphrase_share=paraphrase_share, stream_share=args.stream_share, seed=args.seed,
                    split=args.split, cheap_model=args.cheap_model, premium_model=args.premium_model,
                    balanced_gap=args.balanced_gap, answer_tokens=args.answer_tokens,
                    budget_fraction=args.budget_fraction, balanced_model=args.balanced_model,
                    each_tenant_asks_all=args.each_tenant_asks_all)
    rule = load_artifact(args.router_artifact).split
    outcomes = [row for path in args.outcomes for row in read_outcomes(path)]
    pairs = [pair for path in pair_files for pair in load_pairs(path)]
    header, requests = build(outcomes, pairs, recipe, rule)
    header["inputs"] = {"outcomes": list(args.outcomes), "pairs": list(pair_files)}
    count = write_workload(args.out, header, requests)
    summary = {"out": args.out, "requests": count, "counts": header["counts"], "tenants": len(header["tenants"]),
               "held_out_prompts": header["held_out_prompts"],
               "streamed": sum(r.stream for r in requests)}
    print(json.dumps(summary) if args.json else _describe(summary))
    return 0


def _describe(summary: dict) -> str:
    counts = ", ".join(f"{kind} {value}" for kind, value in summary["counts"].items())
    return (f"{summary['out']}: {summary['requests']} requests ({counts}); {summary['tenants']} tenants; "
            f"{summary['streamed']} streamed; {summary['held_out_prompts']} distinct held-out prompts")
