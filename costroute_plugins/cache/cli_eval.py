"""``costroute eval-cache``: precision and recall of the cache's full decision on labelled pairs.

Prints one JSON object: the figures at the configured (default) threshold, plus a sweep over thresholds so an
operator can see what moving ``similarity_threshold`` would buy and cost. Hits are counted by class (identical
text, labelled duplicate, labelled non-duplicate, unlabelled; see ``evaluate``): with ``--distractors`` a hit may
serve a text no row pairs with the query, so precision over labelled hits comes with the bounds that count those
unlabelled hits wrong and right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from costroute_plugins.cli.errors import CliError


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Measure the semantic cache's precision and recall on paraphrase pairs."
    parser.add_argument("--pairs", required=True,
                        help="pairs .jsonl (a, b, duplicate), MRPC .tsv or GPTCache .json; FILE@START:END[:STEP] "
                             "measures a part (e.g. the pairs a verifier was not trained on)")
    parser.add_argument("--threshold", type=float, help="similarity threshold to report (default: the config's)")
    parser.add_argument("--distractors", action="store_true",
                        help="all a's in one cache, each b looked up; a hit is right when the served text equals "
                             "the query or some row labels the two duplicates, wrong when some row labels them "
                             "non-duplicates, unlabelled otherwise")
    parser.add_argument("--plot", help="write precision/recall against threshold to this PNG")
    parser.add_argument("--limit", type=int, help="use only the first N pairs")
    parser.add_argument("--config", help="JSON file of semantic cache settings (default: built-in defaults)")
    parser.add_argument("--json", action="store_true", help="print the JSON summary only (the default output)")
    parser.set_defaults(func=run)


def _sweep_thresholds(default: float) -> list[float]:
    grid = {round(t, 2) for t in np.arange(0.70, 1.0001, 0.02)} | {round(default, 4)}
    return sorted(grid)


def run(args: argparse.Namespace) -> int:
    import faiss
    from tqdm import tqdm

    from costroute_plugins.cache.config import SemanticCacheConfig
    from costroute_plugins.cache.evaluate import (
        embed_pairs,
        evaluation_config,
        run_pairwise,
        run_with_distractors,
        summarise,
    )
    from costroute_plugins.cache.pairs import load_pairs_spec
    from costroute_plugins.cache.semantic_cache import SemanticCache
    from costroute_plugins.cache.store import MemoryStore
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.embedding_disk import DiskCachedEmbedder

    # Bad files and settings raise ValueError/OSError: the CLI's one error path prints them (cli/errors.py).
    settings = json.loads(Path(args.config).read_text()) if args.config else {}
    base = SemanticCacheConfig.parse(settings)
    if args.threshold is not None:
        base = SemanticCacheConfig.parse(base.model_dump() | {"similarity_threshold": args.threshold})
    pairs = load_pairs_spec(args.pairs, args.limit)
    if not pairs:
        raise CliError(f"{args.pairs}: no pairs to evaluate; give a pairs file with at least one row")
    thresholds = _sweep_thresholds(base.similarity_threshold)
    # One query at a time: OpenMP threads only add start-up cost, and on a busy machine a lot of it.
    faiss.omp_set_num_threads(1)
    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    started = time.perf_counter()
    vectors_a, vectors_b = embed_pairs(embedder, pairs, progress=True)
    embed_seconds = time.perf_counter() - started
    config = evaluation_config(base, thresholds[0]).model_copy(update={"max_entries": max(len(pairs), 1)})
    prototype = SemanticCache.from_config(config, embedder)

    def fresh_cache() -> SemanticCache:
        return SemanticCache(embedder, prototype.index_factory, MemoryStore(config.max_entries), prototype.verifier,
                             prototype.admission, config)

    started = time.perf_counter()
    with tqdm(total=len(pairs), desc="lookups", unit="pair", file=sys.stderr) as bar:
        if args.distractors:
            outcomes = run_with_distractors(pairs, vectors_a, vectors_b, fresh_cache(), bar.update)
        else:
            outcomes = run_pairwise(pairs, vectors_a, vectors_b, fresh_cache)
            bar.update(len(pairs))
    at_default = summarise(pairs, outcomes, base.similarity_threshold)
    summary = {
        "pairs": str(args.pairs),
        "mode": "distractors" if args.distractors else "pairwise",
        "n": len(pairs),
        "duplicates": sum(p.duplicate for p in pairs),
        **at_default,
        "verifier": "rules+learned" if config.learned_verifier else "rules",
        "embed_seconds": round(embed_seconds, 1),
        "decide_seconds": round(time.perf_counter() - started, 1),
        "sweep": [summarise(pairs, outcomes, t) for t in thresholds],
    }
    if args.plot:
        _plot(summary, args.plot)
    print(json.dumps(summary))
    return 0


def _plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [row for row in summary["sweep"] if row["precision"] is not None]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([r["threshold"] for r in sweep], [r["precision"] for r in sweep], label="precision")
    axis.fill_between([r["threshold"] for r in sweep], [r["precision_lower"] for r in sweep],
                      [r["precision_upper"] for r in sweep], alpha=0.2, label="precision, unlabelled wrong..right")
    axis.plot([r["threshold"] for r in sweep], [r["recall"] for r in sweep], label="recall")
    axis.axvline(summary["threshold"], linestyle="--", color="grey", label="configured threshold")
    axis.set_xlabel("similarity threshold")
    axis.set_title(f"{Path(summary['pairs']).name} ({summary['mode']}, n={summary['n']})")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
