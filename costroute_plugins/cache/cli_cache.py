"""``costroute cache stats|flush|purge|delete``: administer a running proxy's semantic cache.

Each action is one HTTP call to the proxy's ``/costroute/cache`` routes (proxy admins only; the routes act on the
store every replica shares, so any replica will do). A proxy that cannot be reached, refuses the key or fails is a
one-line error and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from costroute_plugins.admin_client import AdminCallFailed, call_admin
from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag

PATH = "/costroute/cache"
DEFAULT_PROXY = "http://127.0.0.1:4000"
ACTIONS = ("stats", "flush", "purge", "delete")


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Administer a running proxy's semantic cache: show entries, bytes and hit rate per "
                          "tenant, flush it, purge one tenant, or delete one prompt of a tenant's.")
    parser.add_argument("action", choices=ACTIONS,
                        help="stats; flush (every entry); purge (--tenant); delete (--tenant and --prompt)")
    parser.add_argument("--tenant", help="the tenant as the spend ledger names it, e.g. team:ops (purge, delete)")
    parser.add_argument("--prompt", help="the prompt whose exact matches go (delete)")
    parser.add_argument("--proxy", metavar="URL", default=None,
                        help=f"the proxy (default $COSTROUTE_PROXY_URL, else {DEFAULT_PROXY})")
    parser.add_argument("--key", help="proxy admin key (default $LITELLM_MASTER_KEY)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the proxy (30)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, str] | None]:
    """(method, path, JSON body) of the action; raises ``CliError`` for a missing flag."""
    needed = {"purge": ("tenant",), "delete": ("tenant", "prompt")}.get(args.action, ())
    for name in needed:
        if not getattr(args, name):
            raise CliError(f"{args.action} needs --{name}")
    if args.action == "stats":
        return "GET", PATH, None
    return "POST", f"{PATH}/{args.action}", {name: getattr(args, name) for name in needed} or None


def stats_text(stats: dict[str, Any]) -> str:
    """The stats as a table for people: a row per tenant, then the total."""
    header = f"{'tenant':<32} {'entries':>9} {'bytes':>12} {'lookups':>9} {'hits':>9} {'hit rate':>9}"
    rows = [header]
    for tenant, row in [*stats["tenants"].items(), ("total", stats["total"])]:
        rate = "-" if row["hit_rate"] is None else f"{row['hit_rate']:.1%}"
        rows.append(f"{tenant:<32} {row['entries']:>9} {row['bytes']:>12} {row['lookups']:>9} {row['hits']:>9} "
                    f"{rate:>9}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    method, path, body = request_for(args)
    base_url = args.proxy or os.environ.get("COSTROUTE_PROXY_URL") or DEFAULT_PROXY
    try:
        answer = call_admin(base_url, args.key or os.environ.get("LITELLM_MASTER_KEY"), method, path,
                            "cache administration", body, args.timeout)
    except AdminCallFailed as error:
        raise CliError(f"{error}; check --proxy and --key") from error
    if args.json:
        print(json.dumps(answer))
    elif args.action == "stats":
        print(stats_text(answer))
    else:
        print(f"{args.action}: {answer.get('removed', 0)} entries removed")
    return 0
