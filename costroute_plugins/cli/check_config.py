"""``costroute check-config``: run on a proxy config YAML the checks the proxy's start runs, before deploying it.

The same ``proxy.config_check.check_file`` runs here and at start, so a file that passes here starts, and what
start would log as a degrade is printed here as a WARNING line. Secrets (Redis URL, ledger DSN, webhook) are
masked in everything printed.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Check a LiteLLM proxy config as the proxy's start does: the costroute section, the LiteLLM settings "
        "costroute relies on (callbacks, cache, model_list, `auto` router entries), then print the effective "
        "costroute values (secrets masked), every warning and error, and an OK or FAIL line (exit code 0 or 1)."
    )
    parser.add_argument("config", help="path to the proxy config YAML")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object instead: ok, errors, warnings and config (secrets masked, null "
                             "on FAIL)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.proxy.config_check import check_file

    check = check_file(args.config)
    config = None if check.errors else check.config  # None: failed
    if args.json:
        redacted = None if config is None else config.redacted()
        print(json.dumps({"ok": config is not None, "errors": check.errors, "warnings": check.warnings,
                          "config": redacted}))
        return 1 if config is None else 0
    for error in check.errors:
        print(f"ERROR {error}", file=sys.stderr)
    for warning in check.warnings:
        print(f"WARNING {warning}", file=sys.stderr)
    counts = f"{_count(len(check.errors), 'error')}, {_count(len(check.warnings), 'warning')}"
    if config is None:
        print(f"FAIL {args.config}: {counts}; the proxy would refuse to start", file=sys.stderr)
        return 1
    print(json.dumps(config.redacted(), indent=2))
    print(f"OK {args.config}: {counts}")
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
