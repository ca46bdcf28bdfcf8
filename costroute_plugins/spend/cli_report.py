"""``costroute report``: spend, savings and tier mix from the ledger, as a table, CSV or JSON, plus a plot.

The report reads PostgreSQL only. Rows still waiting in the ledger's spool file (PostgreSQL was down when they
were written) are not in it until the proxy replays them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import timedelta

from costroute_plugins.cli.errors import CliError
from costroute_plugins.spend.report import GROUPS

_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """``7d``, ``24h``, ``2w`` -> a timedelta."""
    match = re.fullmatch(r"(\d+)([hdw])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number and a unit h, d or w, e.g. 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Report spend from the costroute ledger: cost, savings (cache, routing), requests, "
                          "cache-hit rate and share per tier, grouped by one attribution column or by day.")
    parser.add_argument("--since", type=parse_since, default=parse_since("7d"), help="window, e.g. 24h, 7d (7d)")
    parser.add_argument("--by", choices=GROUPS, default="tenant",
                        help="group by this ledger column, or by day in --tz (tenant)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--format", choices=["table", "csv", "json"], default="table",
                        help="table for people, csv or json for tools, with exact amounts (table)")
    output.add_argument("--json", dest="format", action="store_const", const="json",
                        help="print JSON for scripts, the same as --format json")
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
        raise CliError("no ledger DSN; pass --dsn or set COSTROUTE_LEDGER_DSN")
    try:
        with psycopg.connect(args.dsn, connect_timeout=5) as connection:
            rows = build_report(connection, args.schema, args.table, args.by, args.since, args.tz)
            days = rows if args.by == "day" else (
                build_report(connection, args.schema, args.table, "day", args.since, args.tz) if args.plot else [])
    except psycopg.Error as error:  # its first line says what failed; the rest quotes our SQL
        reason = str(error).strip().splitlines()[0]
        raise CliError(f"cannot read the ledger: {reason}; check --dsn, --schema and --table") from error
    print(format_report(rows, args.by, args.format))
    if args.plot:
        from costroute_plugins.spend.plot import plot_spend

        print(f"plot written to {plot_spend(days, args.plot)}", file=sys.stderr)
    return 0
