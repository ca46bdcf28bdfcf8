"""Helpers the routing commands share: their common flags, reading a split of outcomes files, embedding it.

The flags are spelled as everywhere else in the CLI (docs/cli.md): ``--outcomes``, ``--cheap-model``,
``--premium-model`` and ``--router-artifact`` as ``make-workload`` names them; the routing commands' older
``--data``, ``--cheap``, ``--premium`` and ``--artifact`` still work, with a deprecation note.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import CommandParser, add_files_flag
from costroute_plugins.routing.base import RequestView
from costroute_plugins.routing.outcomes import SPLITS, Outcome, SplitRule, read_outcomes


def add_split_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--split", choices=("all", *SPLITS), default=default,
        help="rows to use, by the artifact's split rule (test = held out from training and calibration)",
    )


def add_outcomes_argument(parser: CommandParser, help_text: str) -> None:
    add_files_flag(parser, "--outcomes", help_text)
    parser.deprecate("--data", "--outcomes")


def add_model_arguments(parser: CommandParser, required: bool, help_suffix: str) -> None:
    """``--cheap-model`` / ``--premium-model``: the two models compared, as named in the outcomes' scores."""
    parser.add_argument("--cheap-model", required=required, help=f"cheap model, {help_suffix}")
    parser.add_argument("--premium-model", required=required, help=f"premium model, {help_suffix}")
    parser.deprecate("--cheap", "--cheap-model")
    parser.deprecate("--premium", "--premium-model")


def add_router_artifact_argument(parser: CommandParser, help_text: str) -> None:
    parser.add_argument("--router-artifact", help=help_text)
    parser.deprecate("--artifact", "--router-artifact")


def read_split(paths: Sequence[str], split: str, rule: SplitRule) -> list[Outcome]:
    """Rows of all ``paths``, in order, that fall in ``split`` (every row for ``all``); none left is an error."""
    rows = [row for path in paths for row in read_outcomes(path)]
    selected = rows if split == "all" else rule.select(rows, split)
    if not selected:
        raise CliError(f"{' '.join(paths)}: no rows in split {split!r}; choose another --split")
    return selected


def request_views(rows: Sequence[Outcome], embed: bool, progress: bool = True) -> list[RequestView]:
    """Views of ``rows``, with their MiniLM embeddings when ``embed`` (cached under /tmp/costroute-emb-cache)."""
    if not embed:
        return [RequestView(row.messages) for row in rows]
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.embedding_disk import DiskCachedEmbedder

    vectors = DiskCachedEmbedder(SentenceTransformerEmbedder()).embed([row.text for row in rows], progress=progress)
    return [RequestView(row.messages, vector) for row, vector in zip(rows, vectors)]
