"""``costroute import-pairs``: convert MRPC TSV or GPTCache mock_data.json into pairs JSONL."""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Convert a paraphrase data set (MRPC .tsv, GPTCache .json) into pairs JSONL."
    parser.add_argument("source", help="MRPC .tsv, GPTCache mock_data .json or pairs .jsonl")
    parser.add_argument("out", help="pairs JSONL to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.cache.pairs import PairsFormatError, load_pairs, write_pairs

    try:
        pairs = load_pairs(args.source)
    except PairsFormatError as error:
        print(error, file=sys.stderr)
        return 2
    write_pairs(pairs, args.out)
    print(f"wrote {len(pairs)} pairs ({sum(p.duplicate for p in pairs)} duplicates) to {args.out}")
    return 0
