"""``costroute report`` shows finance what the ledger holds: the same totals, grouped the way they ask."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from costroute_plugins.cli import main
from costroute_plugins.spend import SpendLedger
from costroute_plugins.spend.report import build_report
from tests.spend.conftest import NOW, POSTGRES_DSN, ledger_config, records

WRITTEN = records(240, seed=11, days=5)


@pytest.fixture
async def ledger_schema(pg_schema, tmp_path) -> str:
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    await ledger.start()
    for record in WRITTEN:
        ledger.submit(record)
    await ledger.close()
    return pg_schema


def cli(capsys, *args: str) -> str:
    assert main(["report", "--dsn", POSTGRES_DSN, *args]) == 0
    return capsys.readouterr().out


async def test_report_by_tenant_matches_the_ledger_to_the_cent(ledger_schema):
    with psycopg.connect(POSTGRES_DSN) as connection:
        rows = build_report(connection, ledger_schema, "costroute_spend", "tenant", timedelta(days=30), now=NOW)

    for row in rows:
        mine = [r for r in WRITTEN if r.tenant == row.group]
        assert row.requests == len(mine)
        assert row.cost_usd == sum(r.cost_usd for r in mine)
        assert row.cache_saving_usd == sum(r.cache_saving_usd for r in mine)
        assert row.routing_saving_usd == sum(r.routing_saving_usd for r in mine)
        assert row.cache_hit_rate == pytest.approx(sum(r.cache_hit for r in mine) / len(mine))
        tiers = Counter(r.tier for r in mine)
        assert row.tier_share == pytest.approx({tier: n / len(mine) for tier, n in sorted(tiers.items())})
    assert sum(row.requests for row in rows) == len(WRITTEN)


async def test_report_csv_by_feature_and_tier_adds_up(ledger_schema, capsys):
    by_feature = list(csv.DictReader(io.StringIO(cli(capsys, "--schema", ledger_schema, "--by", "feature",
                                                        "--since", "30d", "--format", "csv"))))
    assert {row["feature"] for row in by_feature} == {"search", "chat", "(none)"}
    assert sum(Decimal(row["cost_usd"]) for row in by_feature) == sum(r.cost_usd for r in WRITTEN)

    by_tier = json.loads(cli(capsys, "--schema", ledger_schema, "--by", "tier", "--since", "30d", "--format", "json"))
    premium = next(row for row in by_tier if row["tier"] == "premium")
    assert Decimal(premium["routing_saving_usd"]) == 0  # premium saves nothing against itself
    assert all(row["tier_share"] == {row["tier"]: 1.0} for row in by_tier)


async def test_report_window_only_counts_recent_requests(ledger_schema):
    with psycopg.connect(POSTGRES_DSN) as connection:
        rows = build_report(connection, ledger_schema, "costroute_spend", "day", timedelta(days=2), now=NOW)
    recent = [r for r in WRITTEN if r.timestamp >= NOW - timedelta(days=2)]
    assert sum(row.requests for row in rows) == len(recent)
    assert [row.group for row in rows] == sorted(row.group for row in rows)


async def test_report_table_by_day_with_a_plot(ledger_schema, capsys, tmp_path):
    plot = tmp_path / "spend.png"
    out = cli(capsys, "--schema", ledger_schema, "--by", "day", "--since", "3650d", "--plot", str(plot))

    lines = out.splitlines()
    assert lines[0].split()[:3] == ["day", "requests", "cost_usd"]
    total = lines[-1].split()
    assert total[0] == "TOTAL" and total[1] == str(len(WRITTEN))
    assert Decimal(total[2]) == sum(r.cost_usd for r in WRITTEN).quantize(Decimal("0.01"))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_report_without_a_dsn_says_how_to_give_one(capsys, monkeypatch):
    monkeypatch.delenv("COSTROUTE_LEDGER_DSN", raising=False)
    assert main(["report"]) == 1
    assert "pass --dsn or set COSTROUTE_LEDGER_DSN" in capsys.readouterr().err


def test_report_with_an_unreachable_ledger_fails_clearly(capsys):
    assert main(["report", "--dsn", "postgresql://postgres@127.0.0.1:1/test"]) == 1
    assert "cannot read the ledger" in capsys.readouterr().err
