"""The ``costroute`` console script: one sub-command a module, each module owning its own arguments.

Sub-commands live next to the part they serve (``cache/``, ``routing/``, ...) and are listed in ``COMMANDS``;
each module exposes ``register(subparsers)`` which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Imports happen only for the command that runs, so
``costroute --help`` stays fast and does not load torch or LiteLLM.

Every command runs through one error path (``errors``): a bad flag, or an input file that is missing,
unreadable or malformed, prints ``costroute <command>: error: <one line>`` and exits 1. The flag conventions
the commands share are in ``options`` and docs/cli.md.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from costroute_plugins import __version__
from costroute_plugins.cli.errors import EXPECTED, CliError, debugging, report
from costroute_plugins.cli.options import CommandParser

# (name, module, one-line help). The module is imported only when its command runs or shows help.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("serve", "costroute_plugins.cli.serve", "run the LiteLLM proxy with costroute, serving missing tiers locally"),
    ("check-config", "costroute_plugins.cli.check_config", "check a whole proxy config as proxy start does"),
    ("stub-upstream", "costroute_plugins.cli.stub_upstream", "run the OpenAI-compatible stub provider"),
    ("price-gpu", "costroute_plugins.spend.cli_price_gpu", "per-token USD rates of a self-hosted GPU tier"),
    ("report", "costroute_plugins.spend.cli_report",
     "spend, savings and tier mix per tenant, team, key, feature, experiment, variant, tier, model or day"),
    # semantic cache commands
    ("eval-cache", "costroute_plugins.cache.cli_eval", "measure the semantic cache's precision/recall on pairs"),
    ("train-verifier", "costroute_plugins.cache.cli_train", "train the semantic cache's learned hit verifier"),
    ("import-pairs", "costroute_plugins.cache.cli_import", "convert MRPC .tsv / GPTCache .json to pairs JSONL"),
    ("eval-admission", "costroute_plugins.cache.cli_admission", "share of prompts the cache refuses or expires early"),
    ("cache", "costroute_plugins.cache.cli_cache",
     "a running proxy's semantic cache: stats per tenant, flush, purge a tenant, delete a prompt"),
    # routing commands
    ("import-routellm", "costroute_plugins.routing.cli_import", "convert RouteLLM outcome CSVs into outcomes JSONL"),
    ("import-arena", "costroute_plugins.routing.cli_import_arena", "convert Chatbot Arena grades/votes to outcomes"),
    ("train-router", "costroute_plugins.routing.cli_train", "train the small-model-sufficient router"),
    ("eval-router", "costroute_plugins.routing.cli_eval", "APGR / CPT of the router and baselines on outcomes"),
    ("calibrate", "costroute_plugins.routing.cli_calibrate", "turn a quality or cost target into a threshold"),
    ("learn", "costroute_plugins.routing.cli_learn", "retrain the router on audited traffic; publish if not worse"),
    # vLLM prefix affinity
    ("simulate-affinity", "costroute_plugins.vllm_affinity.cli_simulate",
     "project vLLM prefix-cache hit rates for N replicas, round-robin vs prefix affinity"),
    # savings replay commands
    ("make-workload", "costroute_plugins.replay.cli_make_workload", "build a replay workload from outcomes + pairs"),
    ("replay", "costroute_plugins.replay.cli_replay", "replay a workload through the real proxy: cost, quality"),
)


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="costroute",
        description="Cost layer for a LiteLLM proxy: semantic cache, tier routing, budgets, spend attribution.",
        epilog="A bad flag or input file is one line on stderr and exit 1; COSTROUTE_DEBUG=1 adds the traceback. "
               "Conventions: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"costroute {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, _module, help_text in COMMANDS:
        subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Commands that import LiteLLM must not stall fetching its remote price list: use the bundled one.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    argv = list(sys.argv[1:] if argv is None else argv)
    known = {name: module for name, module, _help in COMMANDS}
    if not argv or argv[0] not in known:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return 0
        try:
            parser.parse_args(argv)  # --help and --version print and exit 0
        except CliError as error:  # an unknown command or flag
            return report(parser.prog, error)
        parser.print_usage(sys.stderr)
        return 1
    command = CommandParser(prog=f"costroute {argv[0]}")
    importlib.import_module(known[argv[0]]).register(command)
    return _run(command, argv[1:])


def _run(parser: CommandParser, argv: Sequence[str]) -> int:
    """Parse and run; an expected error (bad flag, bad input file) becomes one line on stderr and exit 1."""
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except EXPECTED as error:
        if debugging():
            raise
        return report(parser.prog, error)


if __name__ == "__main__":
    sys.exit(main())
