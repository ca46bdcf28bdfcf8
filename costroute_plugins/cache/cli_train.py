"""``costroute train-verifier``: fit the learned hit verifier and write its JSON artifact.

``--pairs`` takes several files (``--pairs A B`` or ``--pairs A --pairs B``) and may select a part,
``FILE@START:END[:STEP]``, so the rest of a data set stays unseen for evaluation (e.g. train on
``qqp.jsonl@0::4`` and evaluate on ``qqp.jsonl@2::4``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime

from costroute_plugins.cli.options import add_files_flag, add_json_flag


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Train the semantic cache's learned verifier on labelled pairs."
    add_files_flag(parser, "--pairs",
                   "pairs files (.jsonl, MRPC .tsv, GPTCache .json), or parts of them, FILE@START:END[:STEP]")
    parser.add_argument("--out", required=True, help="artifact path to write (JSON)")
    parser.add_argument("--floor", type=float, default=None,
                        help="lowest similarity the verifier is asked about (default: the cache's threshold)")
    parser.add_argument("--target-precision", type=float, default=0.95,
                        help="the acceptance threshold is the lowest whose out-of-fold precision reaches this on "
                             "every --pairs data set (file; its parts count as one) that has both labels")
    parser.add_argument("--model", choices=("logistic", "boosted"), default="logistic",
                        help="logistic regression, or gradient-boosted trees (both ship as JSON)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation strength (logistic)")
    parser.add_argument("--read-embeddings", action="store_true",
                        help="stack an embedding scorer (logistic regression over the two vectors' products and "
                             "distances) under the model; off by default: on QQP it did not beat the cosine yet")
    parser.add_argument("--embedding-c", type=float, default=3.0,
                        help="inverse L2 regularisation strength of the embedding scorer (768 weights)")
    add_json_flag(parser, always=True)
    parser.set_defaults(func=run)


def _data_set(spec: str) -> str:
    """Parts of one file (``qqp.jsonl@0::8``, ``qqp.jsonl@1::8``) are one kind of traffic: their precision is
    judged together, on more pairs than each part has."""
    return spec.partition("@")[0]


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.cache.config import SemanticCacheConfig
    from costroute_plugins.cache.evaluate import embed_pairs
    from costroute_plugins.cache.pairs import load_pairs_spec
    from costroute_plugins.cache.train import fit_verifier
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.embedding_disk import DiskCachedEmbedder

    sources = [(spec, load_pairs_spec(spec)) for spec in args.pairs]
    pairs = [pair for _spec, part in sources for pair in part]
    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    vectors_a, vectors_b = embed_pairs(embedder, pairs, progress=True)
    floor = args.floor if args.floor is not None else SemanticCacheConfig().similarity_threshold
    verifier, report = fit_verifier(pairs, vectors_a, vectors_b, embedder=embedder.name, floor=floor,
                                    sources=[_data_set(spec) for spec, part in sources for _pair in part],
                                    target_precision=args.target_precision, model=args.model, c=args.c,
                                    read_embeddings=args.read_embeddings, embedding_c=args.embedding_c)
    verifier.save(
        args.out,
        trained_on=[{"pairs": spec, "n": len(part)} for spec, part in sources],
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        target_precision=args.target_precision,
        report=asdict(report),
    )
    print(json.dumps({"out": args.out, "floor": floor, **asdict(report)}))
    return 0
