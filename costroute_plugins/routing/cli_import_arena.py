"""``costroute import-arena``: Chatbot Arena outcome data -> outcomes JSONL (``arena_bench.jsonl``,
``arena_battles.jsonl``).

Chat prompts are the traffic the GSM8K/MMLU-trained router knows least; importing Arena's graded answers and
human votes into the canonical format lets ``train-router --pair`` learn from them and ``make-workload`` replay
them with recorded answer lengths. What is converted and dropped, and why, is in ``arena.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag
from costroute_plugins.routing.arena import Imported, battle_rows, bench_rows, find_sources, unify_prompts
from costroute_plugins.routing.outcomes import write_outcomes

#: Why rows were left out, as the text output says it.
REASONS = {"mt_bench_duplicate": "MT-Bench duplicate", "ungraded_answer": "ungraded answers (score -1 or none)",
           "no_grade": "questions without a grade", "multi_turn": "multi-turn battles",
           "same_model": "battles of a model with itself"}


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Convert Chatbot Arena data (arena_bench_v1/: graded answers; arena_battles/: human "
                          "votes) into outcomes JSONL, one file each, prompts unified so both split alike.")
    parser.add_argument("src", help="folder holding arena_bench_v1/ and/or arena_battles/ (or one of them)")
    parser.add_argument("--out-dir", required=True, help="folder to write arena_bench.jsonl / arena_battles.jsonl")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    src, out_dir = Path(args.src), Path(args.out_dir)
    bench_dir, battles_dir = find_sources(src)
    if bench_dir is None and battles_dir is None:
        raise CliError(f"{src}: no question.jsonl or battles.jsonl found (nor {src}/arena_bench_v1/ or "
                       f"{src}/arena_battles/); give the folder holding both Arena folders")
    outputs: dict[str, Imported] = {}
    if bench_dir is not None:
        outputs["arena_bench"] = bench_rows(bench_dir)
    if battles_dir is not None:
        outputs["arena_battles"] = battle_rows(battles_dir)
    unified = unify_prompts(list(outputs.values()), canonical=outputs.get("arena_bench"))
    for dataset, imported in outputs.items():
        out = out_dir / f"{dataset}.jsonl"
        count = write_outcomes(out, imported.rows)
        if args.json:
            print(json.dumps({"dataset": dataset, "out": str(out), "rows": count, "dropped": dict(imported.dropped),
                              "prompts_unified": unified}))
        else:
            dropped = ", ".join(f"{n} {REASONS.get(reason, reason)}" for reason, n in imported.dropped.items())
            print(f"{out}: {count} rows" + (f" (dropped: {dropped})" if dropped else ""))
    if not args.json and unified:
        print(f"{unified} rows' prompts rewritten to one spelling of a prompt seen with other spacing or capitals")
    return 0
