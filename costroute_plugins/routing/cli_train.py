"""``costroute train-router``: fit the logistic router on outcome files and write a calibrated artifact."""

from __future__ import annotations

import argparse
import json
import sys

from costroute_plugins.routing.training import TrainingOptions, train_router


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Train the small-model-sufficient router. Rows are split by text hash into train/validation/test; "
        "train fits, validation selects and calibrates, test is left for `costroute eval-router --split test`."
    )
    parser.add_argument("--data", nargs="+", required=True, help="outcomes JSONL files (one per dataset)")
    parser.add_argument("--cheap", required=True, help="cheap model, as named in the files' scores")
    parser.add_argument("--premium", required=True, help="premium model, as named in the files' scores")
    parser.add_argument("--out", required=True, help="artifact path (.json; weights go beside it as .npz)")
    parser.add_argument("--no-balance", action="store_true", help="weight rows equally instead of datasets")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.embedding import SentenceTransformerEmbedder
    from costroute_plugins.routing.artifact import save_artifact
    from costroute_plugins.routing.outcomes import OutcomesError

    try:
        artifact = train_router(
            args.data, args.cheap, args.premium, SentenceTransformerEmbedder(),
            TrainingOptions(balance_datasets=not args.no_balance), progress=not args.quiet,
        )
    except (OutcomesError, ValueError) as error:
        print(f"train-router: {error}", file=sys.stderr)
        return 1
    path = save_artifact(artifact, args.out)
    print(f"wrote {path} and {path.with_suffix('.npz')}")
    print(json.dumps({"rows": artifact.training["rows"], "validation_apgr": artifact.training["validation_apgr"],
                      "C": artifact.training["regularisation_C"],
                      "embedding_weight": artifact.training["embedding_weight"]}))
    for entry in artifact.calibration:
        print(json.dumps(entry.to_json()))
    return 0
