"""``costroute train-router``: fit the logistic router on outcome files and write a calibrated artifact.

Stdout holds only JSON lines (the training summary, then one per calibration entry), so ``--json`` changes
nothing; where the artifact went is a note on stderr. Model pairs: ``--cheap-model``/``--premium-model`` and any
number of ``--pair CHEAP=PREMIUM``, the first one named being the artifact's pair (see ``training.py``).
"""

from __future__ import annotations

import argparse
import json
import sys

from costroute_plugins.cli.options import CommandParser, add_json_flag
from costroute_plugins.routing.cli_common import (
    add_model_arguments,
    add_outcomes_argument,
    add_pair_argument,
    model_pairs,
)
from costroute_plugins.routing.training import TrainingOptions, train_router


def register(parser: CommandParser) -> None:
    parser.description = (
        "Train the small-model-sufficient router. Rows are split by text hash into train/validation/test; "
        "train fits, validation selects and calibrates, test is left for `costroute eval-router --split test`."
    )
    add_outcomes_argument(parser, "outcomes JSONL, one per dataset")
    add_model_arguments(parser, required=False, help_suffix="as named in the outcomes' scores (one pair; or --pair)")
    add_pair_argument(parser)
    parser.add_argument("--out", required=True, help="artifact path (.json; weights go beside it as .npz)")
    parser.add_argument("--no-balance", action="store_true", help="weight rows equally instead of datasets")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(parser, always=True)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.routing.artifact import save_artifact

    primary, *extra = model_pairs(args)
    artifact = train_router(
        args.outcomes, primary.cheap, primary.premium, SentenceTransformerEmbedder(),
        TrainingOptions(balance_datasets=not args.no_balance), progress=not args.quiet, extra_pairs=extra,
    )
    path = save_artifact(artifact, args.out)
    print(f"wrote {path} and {path.with_suffix('.npz')}", file=sys.stderr)
    summary = {"rows": artifact.training["rows"], "validation_apgr": artifact.training["validation_apgr"],
               "C": artifact.training["regularisation_C"], "embedding_weight": artifact.training["embedding_weight"]}
    summary.update({key: artifact.training[key] for key in ("pairs", "examples_by_pair", "validation_apgr_by_pair")
                    if key in artifact.training})
    print(json.dumps(summary))
    for entry in artifact.calibration:
        print(json.dumps(entry.to_json()))
    return 0
