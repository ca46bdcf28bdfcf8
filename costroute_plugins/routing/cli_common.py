"""Helpers the routing commands share: their common flags, reading a split of outcomes files, embedding it.

The flags are spelled as everywhere else in the CLI (docs/cli.md): ``--outcomes``, ``--cheap-model``,
``--premium-model`` and ``--router-artifact`` as ``make-workload`` names them; the routing commands' older
``--data``, ``--cheap``, ``--premium`` and ``--artifact`` still work, with a deprecation note. ``train-router``
also takes ``--pair CHEAP=PREMIUM`` (repeatable) to learn from rows of several model pairs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import CommandParser, add_files_flag
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import SecondOpinions
from costroute_plugins.routing.model_pairs import ModelPair, distinct_pairs
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


def add_pair_argument(parser: CommandParser) -> None:
    """``--pair CHEAP=PREMIUM``, repeatable: more model pairs whose rows train the router."""
    parser.add_argument("--pair", action="append", default=[], type=_pair, metavar="CHEAP=PREMIUM",
                        help="a cheap/premium model pair, as named in the outcomes' scores; repeatable. Each row "
                        "gives one example per pair it scores; the first pair (--cheap-model/--premium-model if "
                        "given) is the one the artifact names and is calibrated on")


def model_pairs(args: argparse.Namespace) -> tuple[ModelPair, ...]:
    """The configured pairs, primary first: ``--cheap-model``/``--premium-model`` if given, then each ``--pair``."""
    given = (args.cheap_model is not None, args.premium_model is not None)
    if given[0] != given[1]:
        raise CliError("give --cheap-model and --premium-model together (or use --pair CHEAP=PREMIUM)")
    pairs = [ModelPair(args.cheap_model, args.premium_model)] if all(given) else []
    pairs += args.pair
    if not pairs:
        raise CliError("name the models: --cheap-model A --premium-model B, or one or more --pair A=B")
    return distinct_pairs(pairs)


def _pair(spec: str) -> ModelPair:
    try:
        return ModelPair.parse(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def second_opinions() -> SecondOpinions:
    """What the commands score a blended artifact (``routing/blend.py``) with: LiteLLM's complexity-router
    heuristic, imported from the proxy adapters (routing never imports LiteLLM) only when an artifact names it."""
    def litellm_heuristic() -> TierClassifier:
        from costroute_plugins.proxy.litellm_heuristic import LiteLLMHeuristicClassifier

        return LiteLLMHeuristicClassifier("heuristic")

    return {"litellm-heuristic": litellm_heuristic}
