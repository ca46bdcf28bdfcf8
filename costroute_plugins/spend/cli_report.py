"""``costroute report``: spend, savings and tier mix from the ledger, as a table, CSV or JSON, plus a plot."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import timedelta

_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``7d``, ``24h``, ``2w`` -> a timedelta."""
    match = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and a unit h, d or w, e.g. 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Report spend from the costroute ledger: cost, savings (cache, routing), requests, "
                          "cache-hit rate and share per tier, grouped by tenant, feature, tier or day.")
    parser.add_argument("--since", type=parse_since, default=parse_since("7d"), help="window, e.g. 24h, 7d (7d)")
    parser.add_argument("--by", choices=["tenant", "feature", "tier", "day"], default="tenant")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--plot", metavar="OUT.png", help="also plot daily spend vs always-premium to this PNG")
    parser.add_argument("--dsn", default=os.environ.get("COSTROUTE_LEDGER_DSN"),
                        help="PostgreSQL DSN of the ledger (default $COSTROUTE_LEDGER_DSN)")
    parser.add_argument("--schema", default="public", help="schema of the ledger table (public)")
    parser.add_argument("--table", default="costroute_spend", help="ledger table (costroute_spend)")
    parser.add_argument("--tz", default="UTC", help="time zone of the day boundaries (UTC)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import psycopg

    from costroute_plugins.spend.report import build_report, format_report

    if not args.dsn:
        print("costroute report: no ledger DSN; pass --dsn or set COSTROUTE_LEDGER_DSN", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(args.dsn, connect_timeout=5) as connection:
            rows = build_report(connection, args.schema, args.table, args.by, args.since, args.tz)
            days = rows if args.by == "day" else (
                build_report(connection, args.schema, args.table, "day", args.since, args.tz) if args.plot else [])
    except psycopg.Error as error:
        print(f"costroute report: cannot read the ledger: {str(error).strip()}", file=sys.stderr)
        return 1
    print(format_report(rows, args.by, args.format))
    if args.plot:
        from costroute_plugins.spend.plot import plot_spend

        print(f"plot written to {plot_spend(days, args.plot)}", file=sys.stderr)
    return 0
