"""``costroute report``: spend, savings and tier mix from the ledger, as a table, CSV or JSON, plus a plot.

``--dsn`` reads PostgreSQL; rows still waiting in the ledger's spool file (PostgreSQL was down when they were
written) are not in it until the proxy replays them. ``--rows`` reads JSON-lines files instead (a file ledger,
as ``make run`` writes, or a spool) and computes the same report in Python (``file_report``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_files_flag
from costroute_plugins.spend.report import GROUPS, ReportRow

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
    parser.add_argument("--dsn", help="PostgreSQL DSN of the ledger (default $COSTROUTE_LEDGER_DSN)")
    add_files_flag(parser, "--rows", "read ledger rows from JSON-lines files instead of PostgreSQL: a file ledger "
                   "(spend.ledger.file; give its rotated .1 file first) or a spool; each request id counts once",
                   required=False)
    parser.add_argument("--schema", default="public", help="schema of the ledger table (public)")
    parser.add_argument("--table", default="costroute_spend", help="ledger table (costroute_spend)")
    parser.add_argument("--tz", default="UTC", help="time zone of the day boundaries (UTC)")
    parser.add_argument("--quality-from", metavar="PROXY_URL",
                        help="add what the savings cost in quality, read from this proxy's /costroute/quality")
    parser.add_argument("--key", help="proxy admin key for --quality-from (default $LITELLM_MASTER_KEY)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from costroute_plugins.spend.report import format_report

    if args.rows and args.dsn:
        raise CliError("--rows and --dsn both given; pass one: --rows reads ledger files, --dsn PostgreSQL")
    if args.rows:
        rows, days = _from_files(args)
    else:
        dsn = os.environ.get("COSTROUTE_LEDGER_DSN") if args.dsn is None else args.dsn
        if not dsn:
            raise CliError("no ledger to read; pass --dsn or set COSTROUTE_LEDGER_DSN (PostgreSQL), or pass --rows "
                           "FILE (a file ledger such as .costroute/spend.jsonl, or a spool)")
        rows, days = _from_postgres(args, dsn)
    quality = _quality(args) if args.quality_from else None
    if quality is not None and args.format == "json":  # one JSON document: the rows and the quality beside them
        print(json.dumps({"rows": json.loads(format_report(rows, args.by, "json")), "quality": quality}, indent=2))
    else:
        print(format_report(rows, args.by, args.format))
        if quality is not None:
            from costroute_plugins.spend.quality_section import text

            print(("\n" if args.format == "table" else "") + text(quality),
                  file=sys.stdout if args.format == "table" else sys.stderr)
    if args.plot:
        from costroute_plugins.spend.plot import plot_spend

        print(f"plot written to {plot_spend(days, args.plot)}", file=sys.stderr)
    return 0


def _quality(args: argparse.Namespace) -> dict:
    from costroute_plugins.admin_client import AdminCallFailed
    from costroute_plugins.spend.quality_section import fetch

    try:
        return fetch(args.quality_from, args.key or os.environ.get("LITELLM_MASTER_KEY"))
    except AdminCallFailed as error:
        raise CliError(f"--quality-from: {error}") from error


def _from_postgres(args: argparse.Namespace, dsn: str) -> tuple[list[ReportRow], list[ReportRow]]:
    """The report rows, and the daily rows the plot needs (none without --plot), computed by PostgreSQL."""
    import psycopg

    from costroute_plugins.spend.report import build_report

    try:
        with psycopg.connect(dsn, connect_timeout=5) as connection:
            rows = build_report(connection, args.schema, args.table, args.by, args.since, args.tz)
            days = rows if args.by == "day" else (
                build_report(connection, args.schema, args.table, "day", args.since, args.tz) if args.plot else [])
    except psycopg.Error as error:  # its first line says what failed; the rest quotes our SQL
        reason = str(error).strip().splitlines()[0]
        raise CliError(f"cannot read the ledger: {reason}; check --dsn, --schema and --table") from error
    return rows, days


def _from_files(args: argparse.Namespace) -> tuple[list[ReportRow], list[ReportRow]]:
    """The same rows computed in Python from --rows; lines that are not rows are skipped and counted on stderr,
    and a rotated older file left out is pointed at, since its rows would be missing from the totals."""
    from costroute_plugins.spend.file_report import aggregate, read_rows, time_zone

    try:
        time_zone(args.tz)
    except ValueError as error:
        raise CliError(f"argument --tz: {error}") from error
    found = read_rows(args.rows)
    given = {Path(path).resolve() for path in args.rows}
    for path in map(Path, args.rows):
        older = path.with_name(path.name + ".1")
        if older.exists() and older.resolve() not in given:
            print(f"costroute report: note: {older} holds this ledger's older rows (rotated at file_max_bytes); "
                  f"to count them too: --rows {older} {path}", file=sys.stderr)
    if found.unreadable:
        print(f"costroute report: note: {found.unreadable} lines are not ledger rows and were skipped (first: "
              f"{found.first_problem})", file=sys.stderr)
    rows = aggregate(found.records, args.by, args.since, args.tz)
    days = rows if args.by == "day" else (aggregate(found.records, "day", args.since, args.tz) if args.plot else [])
    return rows, days
