"""A damaged spool costs the damaged lines only: every complete row still reaches PostgreSQL, the proxy still
starts, and what could not be replayed is set aside in a ``.rejected`` file that never outgrows its bound."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from costroute_plugins.spend import SpendLedger, SpendMetrics
from tests.spend.conftest import CLOSED_DSN, ledger_config, records
from tests.spend.test_ledger import ledger_rows


def spool_lines(rows) -> bytes:
    return b"".join(json.dumps(row.to_json()).encode() + b"\n" for row in rows)


def set_aside(spool: Path) -> list[dict]:
    """Entries of the ``.rejected`` files, oldest first."""
    files = [spool.with_name(spool.name + suffix) for suffix in (".rejected.1", ".rejected")]
    return [json.loads(line) for path in files if path.exists() for line in path.read_text().splitlines()]


async def replay(pg_schema: str, spool: Path, **settings) -> SpendLedger:
    """A proxy starts with PostgreSQL up, finds the spool, replays it, and stops."""
    ledger = SpendLedger(ledger_config(pg_schema, spool, **settings))
    await ledger.start()
    await ledger.close()
    return ledger


async def test_a_stray_non_utf8_byte_costs_its_line_not_the_ledger(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    good = records(6)
    spool.write_bytes(spool_lines(good[:3]) + b'{"request_id": "r\xff\xfe"}\n' + spool_lines(good[3:]))

    ledger = await replay(pg_schema, spool)  # today: UnicodeDecodeError out of start(), nothing replayed ever

    assert ledger_rows(pg_schema) == (6, 6, sum(row.cost_usd for row in good))
    (entry,) = set_aside(spool)
    assert entry["line"].encode("utf-8", "surrogateescape") == b'{"request_id": "r\xff\xfe"}\n'  # byte-exact
    assert "utf-8" in entry["error"] and ledger.spool.unreadable == 1 and not ledger.spool.pending()


@pytest.mark.parametrize("line", [
    b"[1,2]", b"42", b'"x"', b"null", b"{}", b'{"request_id": "r"}', b"[[[[" * 10_000,
    b'{"request_id": "r", "tenant": "t", "cost_usd": "lots", "timestamp": "2026-01-01T00:00:00+00:00"}',
    b'{"request_id": "r", "tenant": "t", "cost_usd": "1", "timestamp": "2026-01-01T00:00:00+00:00", "key": 5}',
    b'{"request_id": "r", "tenant": "t", "cost_usd": "1", "timestamp": 12}',
])
async def test_a_line_that_is_json_but_not_a_row_is_set_aside(pg_schema, tmp_path, line):
    spool = tmp_path / "spool.jsonl"
    good = records(4)
    spool.write_bytes(spool_lines(good[:2]) + line + b"\n" + spool_lines(good[2:]))

    ledger = await replay(pg_schema, spool)

    assert ledger_rows(pg_schema)[:2] == (4, 4)
    assert [entry["line"] for entry in set_aside(spool)] == [line.decode() + "\n"]
    assert ledger.spool.unreadable == 1


async def test_rows_spooled_after_a_torn_write_are_all_replayed(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    before, after = records(3), records(5, start=3)
    # The last run died in the middle of writing a row: the file ends without a newline.
    spool.write_bytes(spool_lines(before) + b'{"request_id": "req-torn", "ten')
    # This run starts while PostgreSQL is down and spools more rows behind the torn one.
    down = SpendLedger(ledger_config(pg_schema, spool, dsn=CLOSED_DSN))
    await down.start()
    for row in after:
        down.submit(row)
    await down.close()

    ledger = await replay(pg_schema, spool)  # today: req-00003 is glued to the torn line and lost with it

    assert ledger_rows(pg_schema) == (8, 8, sum(row.cost_usd for row in before + after))
    (entry,) = set_aside(spool)
    assert entry["line"] == '{"request_id": "req-torn", "ten\n'
    assert ledger.stats.replayed == 8


async def test_a_torn_last_row_that_is_complete_json_is_still_replayed(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    good = records(3)
    spool.write_bytes(spool_lines(good)[:-1])  # only the final newline is missing

    ledger = await replay(pg_schema, spool)

    assert ledger_rows(pg_schema)[:2] == (3, 3) and ledger.spool.unreadable == 0 and not set_aside(spool)


async def test_the_rejected_files_stay_under_their_bound_and_count_what_they_drop(pg_schema, tmp_path, caplog):
    spool = tmp_path / "spool.jsonl"
    good = records(20)
    garbage = [f'garbage line {number:04d} '.encode() + b"x" * 80 for number in range(400)]
    spool.write_bytes(spool_lines(good[:10]) + b"\n".join(garbage) + b"\n" + spool_lines(good[10:]))
    registry = CollectorRegistry()
    ledger = SpendLedger(ledger_config(pg_schema, spool, rejected_max_bytes=8192))
    SpendMetrics.create(registry, ledger=ledger)

    with caplog.at_level(logging.ERROR, logger="costroute"):
        await ledger.start()
        await ledger.close()

    assert ledger_rows(pg_schema)[:2] == (20, 20)
    files = [spool.with_name(spool.name + suffix) for suffix in (".rejected", ".rejected.1")]
    assert sum(path.stat().st_size for path in files) <= 8192
    kept = set_aside(spool)
    assert kept and kept[-1]["line"].startswith("garbage line 0399")  # the newest lines are the ones kept
    assert ledger.spool.unreadable == 400 and ledger.spool.discarded == 400 - len(kept)
    assert registry.get_sample_value("costroute_ledger_unreadable_lines_total") == 400
    assert registry.get_sample_value("costroute_ledger_discarded_lines_total") == 400 - len(kept)
    assert sum("rejected_max_bytes" in record.getMessage() for record in caplog.records) == 1  # logged once


async def test_an_outage_during_replay_resumes_without_setting_a_line_aside_twice(pg_schema, tmp_path):
    from tests.support.pg_outage import Outage

    spool = tmp_path / "spool.jsonl"
    good = records(200)
    spool.write_bytes(b"".join(spool_lines(good[n:n + 10]) + b"not a row %d\n" % n for n in range(0, 200, 10)))
    outage = Outage()
    dsn = await outage.start()
    ledger = SpendLedger(ledger_config(pg_schema, spool, dsn=dsn, batch_size=10, connect_timeout_s=1))
    writes = 0
    insert = ledger._insert

    async def insert_then_cut(batch):  # PostgreSQL goes away after the fifth replayed batch
        nonlocal writes
        writes += 1
        if writes == 6:
            outage.cut()
        await insert(batch)

    ledger._insert = insert_then_cut
    await ledger.start()
    assert 0 < ledger_rows(pg_schema)[0] < 200 and ledger.spool.pending()  # five batches in, then cut
    outage.up = True  # ... and comes back before the proxy stops
    await ledger.close()
    await outage.stop()

    assert ledger_rows(pg_schema)[:2] == (200, 200) and ledger.stats.replayed == 200
    assert sorted(entry["line"] for entry in set_aside(spool)) == sorted(f"not a row {n}\n" for n in range(0, 200, 10))
    assert ledger.spool.unreadable == 20


async def test_a_spool_that_cannot_be_written_counts_the_rows_instead_of_raising_into_the_proxy(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    spool.mkdir()  # e.g. a broken volume: every write fails
    ledger = SpendLedger(ledger_config(pg_schema, spool, dsn=CLOSED_DSN))
    ledger.drain_to_spool()  # the proxy is stopping: rows go straight to the spool

    ledger.submit(records(1)[0])  # today: IsADirectoryError out of submit, into LiteLLM's callback

    assert ledger.stats.dropped == 1 and ledger.stats.spooled == 0
