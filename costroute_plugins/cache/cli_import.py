"""``costroute import-pairs``: convert MRPC TSV or GPTCache mock_data.json into pairs JSONL.

The output is ``--out`` as in every other command; the older second positional argument still works, with a
deprecation note.
"""

from __future__ import annotations

import argparse
import json

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag, deprecated_use


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Convert a paraphrase data set (MRPC .tsv, GPTCache .json) into pairs JSONL."
    parser.add_argument("source", help="MRPC .tsv, GPTCache mock_data .json or pairs .jsonl")
    parser.add_argument("--out", help="pairs JSONL to write (required)")
    parser.add_argument("legacy_out", nargs="?", metavar="OUT", help=argparse.SUPPRESS)
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _out(args: argparse.Namespace) -> str:
    """``--out``, or the deprecated positional OUT; exactly one of them."""
    if args.out and args.legacy_out:
        raise CliError(f"the output is given twice ({args.legacy_out} and --out {args.out}); keep --out")
    if args.legacy_out:
        deprecated_use("costroute import-pairs", "a positional OUT", "--out OUT")
        return args.legacy_out
    if not args.out:
        raise CliError("--out is required: the pairs JSONL to write")
    return args.out


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.cache.pairs import load_pairs, write_pairs

    out = _out(args)
    pairs = load_pairs(args.source)
    write_pairs(pairs, out)
    duplicates = sum(p.duplicate for p in pairs)
    print(json.dumps({"out": out, "pairs": len(pairs), "duplicates": duplicates}) if args.json else
          f"wrote {len(pairs)} pairs ({duplicates} duplicates) to {out}")
    return 0
