"""`costroute report --rows FILE` answers from a file ledger exactly what `--dsn` answers from PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from costroute_plugins.cli import main
from costroute_plugins.spend import AttributionRecord, FileLedger, LedgerConfig, SpendLedger
from costroute_plugins.spend.file_report import aggregate, read_rows
from costroute_plugins.spend.report import GROUPS, build_report, format_report
from costroute_plugins.spend.spool import encode_line
from tests.spend.conftest import CLOSED_DSN, NOW, POSTGRES_DSN, ledger_config, records

ROWS = records(300, seed=23, days=4)
# costroute's own spend (quality audits): in cost, not in requests or tier shares; and rows missing attributions.
AUDITS = [AttributionRecord(request_id=f"audit-{n}", tenant=ROWS[n].tenant, cost_usd=Decimal("0.0004321"),
                            timestamp=ROWS[n].timestamp, tier="premium", decision="audit") for n in range(12)]
BARE = [AttributionRecord(request_id=f"bare-{n}", tenant="unattributed", cost_usd=Decimal("0.003"),
                          timestamp=NOW - timedelta(hours=n + 1)) for n in range(5)]
FIRST = [*ROWS, *AUDITS, *BARE]
# LiteLLM retried a success callback: the same request ids again, even with other amounts. The first row counts.
AGAIN = [dataclasses.replace(record, cost_usd=Decimal(9)) for record in ROWS[:30]]
WRITTEN = [*FIRST, *AGAIN]


@pytest.fixture
async def both_ledgers(pg_schema, tmp_path) -> tuple[str, str]:
    """The same requests recorded by the PostgreSQL ledger and by the file ledger: (schema, file)."""
    postgres = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    local = FileLedger(LedgerConfig(enabled=True, file=str(tmp_path / "spend.jsonl")))
    for ledger in (postgres, local):
        await ledger.start()
        for record in WRITTEN:
            ledger.submit(record)
        await ledger.close()
    return pg_schema, str(tmp_path / "spend.jsonl")


def report(capsys, *args: str) -> str:
    assert main(["report", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize(("by", "tz", "since"), [
    *((by, "UTC", timedelta(days=30)) for by in GROUPS),
    ("day", "America/Los_Angeles", timedelta(days=30)),
    ("day", "Asia/Kolkata", timedelta(days=2)),
    ("tenant", "UTC", timedelta(hours=20)),
])
async def test_the_file_report_equals_the_sql_report_on_the_same_requests(both_ledgers, by, tz, since):
    schema, path = both_ledgers
    with psycopg.connect(POSTGRES_DSN) as connection:
        expected = build_report(connection, schema, "costroute_spend", by, since, tz, now=NOW)

    found = read_rows([path])
    computed = aggregate(found.records, by, since, tz, now=NOW)

    assert computed == expected and expected
    assert found.duplicates == len(AGAIN) and found.unreadable == 0
    for fmt in ("json", "csv", "table"):  # every digit and label as printed, too
        assert format_report(computed, by, fmt) == format_report(expected, by, fmt)


async def test_report_rows_prints_what_report_dsn_prints(both_ledgers, capsys):
    schema, path = both_ledgers
    for args in (["--by", "feature", "--format", "csv"], ["--by", "tier", "--json"], ["--by", "day", "--tz", "UTC"]):
        from_files = report(capsys, "--rows", path, "--since", "30d", *args)
        from_postgres = report(capsys, "--dsn", POSTGRES_DSN, "--schema", schema, "--since", "30d", *args)
        assert from_files == from_postgres


async def test_totals_equal_the_rows_to_the_last_digit_and_each_request_counts_once(both_ledgers, capsys):
    _schema, path = both_ledgers

    by_tenant = json.loads(report(capsys, "--rows", path, "--since", "30d", "--json"))

    assert sum(row["requests"] for row in by_tenant) == len(ROWS) + len(BARE)  # audits are not requests
    assert sum(Decimal(row["cost_usd"]) for row in by_tenant) == sum(r.cost_usd for r in FIRST)
    assert sum(Decimal(row["audit_usd"]) for row in by_tenant) == sum(r.cost_usd for r in AUDITS)
    assert {row["tenant"] for row in by_tenant} >= {"team:acme", "unattributed"}


async def test_a_spool_left_while_postgres_was_down_reports_like_the_ledger_file(tmp_path, capsys):
    spool = tmp_path / "spool.jsonl"
    down = SpendLedger(ledger_config("public", spool, dsn=CLOSED_DSN))
    await down.start()
    for record in FIRST:
        down.submit(record)
    await down.close()

    assert json.loads(report(capsys, "--rows", str(spool), "--since", "30d", "--by", "tier", "--json")) == \
        json.loads(format_report(aggregate(FIRST, "tier", timedelta(days=30)), "tier", "json"))


def test_several_files_read_in_order_and_a_rotated_file_left_out_is_pointed_at(tmp_path, capsys):
    ledger, older = tmp_path / "spend.jsonl", tmp_path / "spend.jsonl.1"
    older.write_bytes(b"".join(encode_line(r) for r in ROWS[:100]))
    ledger.write_bytes(b"".join(encode_line(r) for r in ROWS[100:]))

    assert main(["report", "--rows", str(ledger), "--since", "30d", "--by", "day", "--json"]) == 0
    newest_only, err = capsys.readouterr()
    assert f"note: {older} holds this ledger's older rows" in err and f"--rows {older} {ledger}" in err

    both = report(capsys, "--rows", str(older), str(ledger), "--since", "30d", "--by", "day", "--json")
    assert sum(row["requests"] for row in json.loads(newest_only)) == 200
    assert sum(row["requests"] for row in json.loads(both)) == 300


def test_a_torn_line_is_skipped_with_a_note_and_the_rest_is_reported(tmp_path, capsys):
    path = tmp_path / "spend.jsonl"
    path.write_bytes(b"".join(encode_line(r) for r in ROWS[:10]) + encode_line(ROWS[10])[:30])

    assert main(["report", "--rows", str(path), "--since", "30d", "--json"]) == 0

    out, err = capsys.readouterr()
    assert sum(row["requests"] for row in json.loads(out)) == 10
    assert "note: 1 lines are not ledger rows and were skipped (first: " in err and "spend.jsonl:11:" in err


@pytest.mark.parametrize(("args", "expected"), [
    ([], "no ledger to read; pass --dsn or set COSTROUTE_LEDGER_DSN (PostgreSQL), or pass --rows FILE"),
    (["--rows", "ROWS", "--dsn", POSTGRES_DSN], "--rows and --dsn both given; pass one"),
    (["--rows", "ROWS", "--tz", "Mars/Olympus"], "argument --tz: 'Mars/Olympus' is not a time zone"),
    (["--rows", "OUTCOMES"], "none of its 2 lines is a ledger row"),
    (["--rows", "MISSING"], "missing.jsonl: No such file or directory; check the path"),
])
def test_a_report_that_cannot_be_made_says_why_in_one_line(args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COSTROUTE_LEDGER_DSN", raising=False)
    files = {"ROWS": tmp_path / "spend.jsonl", "OUTCOMES": tmp_path / "outcomes.jsonl",
             "MISSING": tmp_path / "missing.jsonl"}
    files["ROWS"].write_bytes(encode_line(ROWS[0]))
    files["OUTCOMES"].write_text('{"prompt": "2+2?", "scores": {}}\n{"prompt": "hi", "scores": {}}\n')

    assert main(["report", *(str(files.get(arg, arg)) for arg in args)]) == 1

    err = capsys.readouterr().err
    assert err.startswith("costroute report: error: ") and expected in err and len(err.splitlines()) == 1
