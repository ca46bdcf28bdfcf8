"""Helpers the routing commands share: reading a split of an outcomes file and embedding it (cached)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from costroute_plugins.routing.base import RequestView
from costroute_plugins.routing.outcomes import SPLITS, Outcome, SplitRule, read_outcomes


def add_split_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--split", choices=("all", *SPLITS), default=default,
        help="rows to use, by the artifact's split rule (test = held out from training and calibration)",
    )


def read_split(path: str, split: str, rule: SplitRule) -> list[Outcome]:
    """Rows of ``path`` in ``split`` (all rows for ``all``); exits with a message when none are left."""
    rows = read_outcomes(path)
    selected = rows if split == "all" else rule.select(rows, split)
    if not selected:
        print(f"{path}: no rows in split {split!r}", file=sys.stderr)
        raise SystemExit(1)
    return selected


def request_views(rows: Sequence[Outcome], embed: bool, progress: bool = True) -> list[RequestView]:
    """Views of ``rows``, with their MiniLM embeddings when ``embed`` (cached under /tmp/costroute-emb-cache)."""
    if not embed:
        return [RequestView(row.messages) for row in rows]
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.embedding_disk import DiskCachedEmbedder

    vectors = DiskCachedEmbedder(SentenceTransformerEmbedder()).embed([row.text for row in rows], progress=progress)
    return [RequestView(row.messages, vector) for row, vector in zip(rows, vectors)]
