"""``costroute import-routellm``: RouteLLM's per-prompt correctness CSVs -> outcomes JSONL (one file a dataset).

RouteLLM publishes GSM8K and MMLU results of a cheap and a strong model; importing them into the canonical
format lets ``train-router`` / ``eval-router`` read every source the same way. Prompts RouteLLM flags as
contaminated (overlapping its own router training data) are dropped by default so held-back evaluation on
RouteLLM's benchmarks stays honest.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag
from costroute_plugins.routing.outcomes import write_outcomes


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Convert RouteLLM outcome CSVs (gsm8k_responses.csv, mmlu/*.csv) into outcomes JSONL."
    parser.add_argument("src", help="RouteLLM data folder holding gsm8k_responses.csv and/or mmlu/")
    parser.add_argument("--out-dir", required=True, help="folder to write gsm8k.jsonl and mmlu.jsonl into")
    parser.add_argument(
        "--keep-contaminated", action="store_true", help="keep prompts listed in *_contaminated_prompts.jsonl"
    )
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _contaminated(src: Path, dataset: str) -> set[str]:
    path = src / f"{dataset}_contaminated_prompts.jsonl"
    if not path.exists():
        return set()
    with open(path, encoding="utf-8") as handle:
        return {json.loads(line)["eval_prompt"] for line in handle if line.strip()}


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with open(path, encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def _outcome(row_id: str, row: dict[str, str]) -> dict[str, Any]:
    """Model columns are the ones holding True/False; response text columns are not carried over."""
    scores = {name: float(value == "True") for name, value in row.items() if value in ("True", "False")}
    return {"id": row_id, "prompt": row["prompt"], "scores": scores}


def _dataset_rows(src: Path, dataset: str, drop: set[str]) -> Iterator[dict[str, Any]]:
    if dataset == "gsm8k":
        files = [src / "gsm8k_responses.csv"]
    else:
        files = sorted((src / "mmlu").glob("mmlu_*.csv"))
    for path in files:
        prefix = dataset if dataset == "gsm8k" else f"mmlu/{path.stem.removeprefix('mmlu_')}"
        for index, row in enumerate(_csv_rows(path)):
            if row["prompt"] not in drop:
                yield _outcome(f"{prefix}/{index}", row)


def run(args: argparse.Namespace) -> int:
    src, out_dir = Path(args.src), Path(args.out_dir)
    markers = {"gsm8k": src / "gsm8k_responses.csv", "mmlu": src / "mmlu"}
    found = [dataset for dataset, marker in markers.items() if marker.exists()]
    if not found:
        raise CliError(f"{src}: no gsm8k_responses.csv or mmlu/ folder found; give RouteLLM's data folder")
    for dataset in found:
        drop = set() if args.keep_contaminated else _contaminated(src, dataset)
        out = out_dir / f"{dataset}.jsonl"
        count = write_outcomes(out, _dataset_rows(src, dataset, drop))
        print(json.dumps({"dataset": dataset, "out": str(out), "rows": count, "contaminated_dropped": len(drop)})
              if args.json else f"{out}: {count} rows ({len(drop)} contaminated prompts dropped)")
    return 0
