"""``costroute check-config``: validate a proxy config's costroute section before deploying it."""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Validate the costroute section of a LiteLLM proxy config, and the `auto` router entries using it, "
        "then print the effective values."
    )
    parser.add_argument("config", help="path to the proxy config YAML")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.config import CostrouteConfigError
    from costroute_plugins.proxy.runtime import load_checked

    try:
        config = load_checked(args.config)
    except CostrouteConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(config.model_dump_json(indent=2))
    return 0
