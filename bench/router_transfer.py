"""Cross-domain check of the router's training recipe: train without a whole domain, then score that domain.

Issue 4 judges the router on held-back public sets and chat prompts, i.e. on prompts unlike its training data.
The held-out split cannot measure that (its rows come from the same subjects as training), so this holds out
one domain at a time: GSM8K, or one of MMLU's four subject categories (STEM, humanities, social sciences,
other; the grouping of the MMLU paper). Each fold trains with ``train_router`` (the recipe of
``costroute train-router``) at the given hyper-parameters on every other domain's rows, and reports APGR on
the held-out domain's rows outside the test split (the test split stays unread, as for the shipped figures),
beside LiteLLM's heuristic, length and random on the same rows. Choose training settings on these figures,
never on MT-Bench.

Usage: ``.venv/bin/python -m bench.router_transfer --data gsm8k.jsonl mmlu.jsonl [--C 0.1]
[--embedding-weight 1] [--structural-weight 0.3]`` (files from ``costroute import-routellm``; embeddings come
from the on-disk cache, so only the first run pays for them). One JSON line per fold and method, then means.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from costroute_plugins.embedding import Embedder, SentenceTransformerEmbedder
from costroute_plugins.proxy.litellm_heuristic import LiteLLMHeuristicClassifier
from costroute_plugins.routing.apgr import routing_metrics
from costroute_plugins.routing.base import TierClassifier
from costroute_plugins.routing.baselines import LengthClassifier, RandomClassifier
from costroute_plugins.routing.cli_common import request_views
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import Outcome, SplitRule, pair_qualities, read_outcomes, write_outcomes
from costroute_plugins.routing.training import TrainingOptions, train_router

CHEAP = "mistralai/Mixtral-8x7B-Instruct-v0.1"
PREMIUM = "gpt-4-1106-preview"
_STEM = frozenset(
    "abstract_algebra astronomy college_biology college_chemistry college_computer_science college_mathematics "
    "college_physics computer_security conceptual_physics electrical_engineering elementary_mathematics "
    "high_school_biology high_school_chemistry high_school_computer_science high_school_mathematics "
    "high_school_physics high_school_statistics machine_learning".split())
_HUMANITIES = frozenset(
    "formal_logic high_school_european_history high_school_us_history high_school_world_history "
    "international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy prehistory "
    "professional_law world_religions".split())
_SOCIAL = frozenset(
    "econometrics high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_microeconomics high_school_psychology human_sexuality professional_psychology public_relations "
    "security_studies sociology us_foreign_policy".split())
DOMAINS = ("gsm8k", "stem", "humanities", "social", "other")


def domain_of(row: Outcome) -> str:
    """GSM8K, or the MMLU category of the subject named in the id ``mmlu/<subject>/<n>`` (import-routellm's)."""
    parts = row.id.split("/")
    if parts[0] != "mmlu":
        return parts[0]
    subject = parts[1]
    return "stem" if subject in _STEM else "humanities" if subject in _HUMANITIES else (
        "social" if subject in _SOCIAL else "other")


def _as_json(row: Outcome) -> dict:
    return {"id": row.id, "messages": list(row.messages), "scores": dict(row.scores)}


def _train_without(files: dict[str, list[Outcome]], domain: str, options: TrainingOptions,
                   embedder: Embedder, folder: Path) -> LogisticClassifier:
    """Train on every file's rows outside ``domain``; files keep their stems, which name datasets in training."""
    paths = []
    for stem, rows in files.items():
        kept = [_as_json(row) for row in rows if domain_of(row) != domain]
        if kept:
            paths.append(str(folder / f"{stem}.jsonl"))
            write_outcomes(paths[-1], kept)
    return LogisticClassifier(train_router(paths, CHEAP, PREMIUM, embedder, options, progress=False))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="outcomes files, e.g. gsm8k.jsonl mmlu.jsonl")
    parser.add_argument("--C", type=float, default=0.1, help="inverse regularisation strength")
    parser.add_argument("--embedding-weight", type=float, default=1.0)
    parser.add_argument("--structural-weight", type=float, default=0.3)
    args = parser.parse_args(argv)
    options = TrainingOptions(regularisation=(args.C,), embedding_weights=(args.embedding_weight,),
                              structural_weight=args.structural_weight)
    files = {Path(path).stem: read_outcomes(path) for path in args.data}
    split = SplitRule()
    embedder = SentenceTransformerEmbedder()  # train_router and request_views read the on-disk cache
    baselines: list[TierClassifier] = [LiteLLMHeuristicClassifier("heuristic"), LengthClassifier(),
                                       RandomClassifier()]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for domain in DOMAINS:
            held = [row for rows in files.values() for row in rows
                    if domain_of(row) == domain and split.split_of(row.text) != "test"]
            if not held:
                continue
            router = _train_without(files, domain, options, embedder, Path(folder))
            views = request_views(held, embed=True, progress=False)
            q = pair_qualities(held, CHEAP, PREMIUM)
            for method in (router, *baselines):
                apgr = routing_metrics(method.premium_need_batch(views), q.cheap, q.premium).apgr
                results.setdefault(method.name, []).append(apgr)
                print(json.dumps({"held_out": domain, "n": len(held), "method": method.name, "apgr": round(apgr, 4)}),
                      flush=True)
    for name, values in results.items():
        print(json.dumps({"held_out": "mean", "method": name, "apgr": round(float(np.mean(values)), 4),
                          "options": {"C": args.C, "embedding_weight": args.embedding_weight,
                                      "structural_weight": args.structural_weight}}))


if __name__ == "__main__":
    main()
