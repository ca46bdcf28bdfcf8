"""The ledger records every finished request exactly once, in PostgreSQL, even across a PostgreSQL outage."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path

import psycopg

from costroute_plugins.spend import AttributionRecord, SpendLedger
from tests.spend.conftest import CLOSED_DSN, POSTGRES_DSN, ledger_config, records
from tests.support.pg_outage import Outage


def ledger_rows(schema: str) -> tuple[int, int, Decimal]:
    """(rows, distinct request ids, total cost) as PostgreSQL sums them."""
    with psycopg.connect(POSTGRES_DSN) as connection:
        return connection.execute(
            f'SELECT count(*), count(DISTINCT request_id), coalesce(sum(cost_usd), 0) FROM "{schema}".costroute_spend'
        ).fetchone()


async def test_a_request_logged_twice_is_counted_once(pg_schema, tmp_path):
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    await ledger.start()
    record = records(1)[0]

    ledger.submit(record)
    ledger.submit(record)  # e.g. LiteLLM retried the success callback
    await ledger.flush()
    ledger.submit(record)
    await ledger.close()

    assert ledger_rows(pg_schema) == (1, 1, record.cost_usd)


async def test_money_keeps_every_digit(pg_schema, tmp_path):
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    await ledger.start()
    for number in range(10):
        ledger.submit(AttributionRecord(request_id=f"r{number}", tenant="t", cost_usd=0.1))
    await ledger.close()
    assert ledger_rows(pg_schema)[2] == Decimal("1.0000000000")  # ten float 0.1s that sum to exactly 1


async def test_while_postgres_is_down_rows_spool_to_disk_and_replay_exactly_once(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    written = records(300)
    # The proxy starts while PostgreSQL is unreachable: requests keep being served and recorded on disk.
    down = SpendLedger(ledger_config(pg_schema, spool, dsn=CLOSED_DSN))
    await down.start()
    for record in written[:200]:
        down.submit(record)
    await down.close()
    assert down.stats.spooled == 200 and down.stats.written == 0 and down.stats.dropped == 0
    assert len(spool.read_text().splitlines()) == 200

    # PostgreSQL is back (the replica restarts pointing at it): the spool is replayed, new rows go straight in,
    # and rows already present (replayed twice after a crash) are not counted again.
    up = SpendLedger(ledger_config(pg_schema, spool))
    await up.start()
    for record in written[150:]:
        up.submit(record)
    await up.close()

    rows, distinct, total = ledger_rows(pg_schema)
    assert rows == distinct == 300
    assert total == sum(record.cost_usd for record in written)  # to the cent, and to the 1e-10
    assert not spool.exists() and not up.spool.pending()
    assert up.stats.replayed == 200


async def test_a_running_proxy_rides_out_an_outage_without_losing_or_duplicating_rows(pg_schema, tmp_path):
    outage = Outage()
    dsn = await outage.start()
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl", dsn=dsn, connect_timeout_s=1))
    await ledger.start()
    written = records(150)

    for record in written[:50]:
        ledger.submit(record)
    await ledger.flush()
    outage.cut()  # PostgreSQL becomes unreachable mid-traffic
    for record in written[50:100]:
        ledger.submit(record)
    await ledger.flush()
    assert ledger.stats.spooled >= 50 and not ledger.healthy

    outage.up = True  # ... and comes back; the worker notices on its own
    for record in written[100:]:
        ledger.submit(record)
    for _ in range(100):
        await asyncio.sleep(0.1)
        if ledger.healthy and ledger_rows(pg_schema)[0] == 150:
            break
    await ledger.close()
    await outage.stop()

    assert ledger_rows(pg_schema) == (150, 150, sum(r.cost_usd for r in written))


async def test_a_full_memory_queue_spills_to_the_spool_instead_of_dropping(pg_schema, tmp_path):
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl", queue_size=5))
    for record in records(20):  # the worker is not started yet: the queue fills up
        ledger.submit(record)
    assert ledger.stats.spooled == 15
    await ledger.start()
    await ledger.close()
    assert ledger_rows(pg_schema)[:2] == (20, 20)


async def test_a_full_spool_drops_and_counts_the_excess(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    ledger = SpendLedger(ledger_config(pg_schema, spool, dsn=CLOSED_DSN, spool_max_bytes=4096))
    await ledger.start()
    for record in records(40):
        ledger.submit(record)
    await ledger.close()
    kept = len(spool.read_text().splitlines())
    assert 0 < kept < 40 and ledger.stats.dropped == 40 - kept and spool.stat().st_size <= 4096


async def test_a_torn_last_spool_line_is_skipped(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    good = records(3)
    spool.write_text("".join(json.dumps(r.to_json()) + "\n" for r in good) + '{"request_id": "half')
    ledger = SpendLedger(ledger_config(pg_schema, spool))
    await ledger.start()
    await ledger.close()
    assert ledger_rows(pg_schema)[:2] == (3, 3) and ledger.spool.unreadable == 1


async def test_a_row_postgres_refuses_is_set_aside_without_blocking_the_others(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    ledger = SpendLedger(ledger_config(pg_schema, spool))
    await ledger.start()
    good = records(10)
    poison = AttributionRecord(request_id="absurd-cost", tenant="t", cost_usd=Decimal("1e12"))  # numeric(20, 10)
    for record in [*good[:5], poison, *good[5:]]:
        ledger.submit(record)
    await ledger.close()

    assert ledger_rows(pg_schema) == (10, 10, sum(r.cost_usd for r in good))
    (rejected,) = [json.loads(line) for line in (tmp_path / "spool.jsonl.rejected").read_text().splitlines()]
    assert rejected["request_id"] == "absurd-cost" and "numeric field overflow" in rejected["error"]
    assert ledger.stats.rejected == 1 and not ledger.spool.pending()


async def test_rows_still_in_memory_when_the_proxy_exits_are_spooled_and_written_by_the_next_start(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    written = records(30)
    # A long flush interval: the rows are still in memory when the process is told to stop.
    stopping = SpendLedger(ledger_config(pg_schema, spool, flush_interval_s=60, batch_size=1000))
    await stopping.start()
    for record in written:
        stopping.submit(record)
    await asyncio.sleep(0.1)  # the worker has taken the first rows into a batch it is still filling

    assert stopping.queued == 30
    # The proxy stops: its closing event loop cancels the ledger's worker with the batch half-filled.
    for task in asyncio.all_tasks():
        if task.get_name() == "costroute-spend-ledger":
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert stopping.queued == 0
    assert len(spool.read_text().splitlines()) == 30 and ledger_rows(pg_schema)[0] == 0

    restarted = SpendLedger(ledger_config(pg_schema, spool))
    await restarted.start()
    await restarted.close()
    assert ledger_rows(pg_schema) == (30, 30, sum(r.cost_usd for r in written))


async def test_ledger_health_is_exported_to_prometheus(pg_schema, tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest

    from costroute_plugins.spend.metrics import SpendMetrics

    registry = CollectorRegistry()
    down = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl", dsn=CLOSED_DSN))
    SpendMetrics.create(registry, ledger=down)
    await down.start()
    for record in records(4):
        down.submit(record)
    await down.flush()
    exported = generate_latest(registry).decode()
    await down.close()

    assert "costroute_ledger_up 0.0" in exported
    assert 'costroute_ledger_rows_total{outcome="spooled"} 4.0' in exported
    assert 'costroute_ledger_rows_total{outcome="written"} 0.0' in exported
    assert "costroute_ledger_queued_rows 0.0" in exported
    spool_bytes = float(re.search(r"^costroute_ledger_spool_bytes (\S+)$", exported, re.MULTILINE).group(1))
    assert spool_bytes == (tmp_path / "spool.jsonl").stat().st_size > 0


async def test_a_stopping_proxy_spools_what_it_holds_and_every_later_row(pg_schema, tmp_path):
    spool = tmp_path / "spool.jsonl"
    written = records(12)
    ledger = SpendLedger(ledger_config(pg_schema, spool, flush_interval_s=60, batch_size=1000))
    await ledger.start()
    for record in written[:10]:
        ledger.submit(record)
    await asyncio.sleep(0.05)

    assert ledger.drain_to_spool() == 10  # SIGTERM: the proxy drains its last requests, then the process ends
    for record in written[10:]:  # requests that finish while it drains
        ledger.submit(record)

    assert ledger.queued == 0
    assert {json.loads(line)["request_id"] for line in spool.read_text().splitlines()} == {
        record.request_id for record in written}
    await ledger.close()  # had the process lived on, the spool would still reach PostgreSQL
    assert ledger_rows(pg_schema) == (12, 12, sum(r.cost_usd for r in written))


async def test_token_counts_an_upstream_got_wrong_are_clamped_and_the_row_kept(pg_schema, tmp_path):
    from prometheus_client import CollectorRegistry

    from costroute_plugins.spend.metrics import SpendMetrics

    registry = CollectorRegistry()
    ledger = SpendLedger(ledger_config(pg_schema, tmp_path / "spool.jsonl"))
    SpendMetrics.create(registry, ledger=ledger)
    await ledger.start()
    # What upstreams have been seen to report: negative counts, fractions, strings, absurdly large numbers.
    ledger.submit(AttributionRecord(request_id="negative", tenant="t", cost_usd=1, prompt_tokens=-5,
                                    completion_tokens=7))
    ledger.submit(AttributionRecord(request_id="fraction", tenant="t", cost_usd=1, prompt_tokens=12.7,
                                    completion_tokens="9", cached_tokens=float("nan")))
    ledger.submit(AttributionRecord(request_id="huge", tenant="t", cost_usd=1, prompt_tokens=2**40,
                                    completion_tokens="lots"))
    ledger.submit(AttributionRecord(request_id="fine", tenant="t", cost_usd=1, prompt_tokens=3, completion_tokens=4))
    await ledger.close()

    with psycopg.connect(POSTGRES_DSN) as connection:
        stored = connection.execute(
            f'SELECT request_id, prompt_tokens, completion_tokens, cached_tokens FROM "{pg_schema}".costroute_spend '
            "ORDER BY request_id").fetchall()
    assert stored == [("fine", 3, 4, 0), ("fraction", 13, 9, 0), ("huge", 2**31 - 1, 0, 0), ("negative", 0, 7, 0)]
    assert ledger.stats.rejected == 0
    assert registry.get_sample_value("costroute_ledger_adjusted_rows_total") == 3


async def test_a_stop_signal_while_the_ledger_worker_takes_a_row_off_its_queue_loses_nothing(tmp_path: Path):
    """The race that lost the last row of tests/test_budget_spend_proxy.py's outage-and-restart test: SIGTERM's ``drain_to_spool`` ran
    while the ledger's worker had taken a row off its queue but not yet into its batch (Python 3.11's
    ``asyncio.wait_for`` runs ``Queue.get`` in a task of its own, which dequeues the row loop turns before the
    worker resumes to keep it), so the row was in neither place the drain looks and died with the process.

    The stop is tried at each loop turn after the row is submitted: every time, both rows must be spooled."""
    async def loop_turn() -> None:
        await asyncio.sleep(0)  # lets every ready callback and task run once: ordering, not time

    for turns in range(8):
        spool = tmp_path / f"spool-{turns}.jsonl"
        # A partial batch waits in memory (flush_interval_s 60), as the proxy's last requests did.
        ledger = SpendLedger(ledger_config("unused", spool, dsn=CLOSED_DSN, flush_interval_s=60, batch_size=5))
        await ledger.start()
        try:
            held, last = records(2, start=10 * turns)
            ledger.submit(held)
            for _ in range(100):  # until the worker holds the first row and waits for more
                if ledger._in_flight and ledger._queue.empty():
                    break
                await loop_turn()
            assert ledger._in_flight == [held]

            ledger.submit(last)  # the last request's success callback ...
            for _ in range(turns):
                await loop_turn()
            drained = ledger.drain_to_spool()  # ... and the stop signal, `turns` loop turns later

            spooled = [json.loads(line)["request_id"] for line in spool.read_text().splitlines()]
            assert (turns, drained, spooled, ledger.queued) == (turns, 2, [held.request_id, last.request_id], 0)
        finally:  # the process ends here (``close`` would wait for ever on a row lost this way)
            for _ in range(100):  # Python 3.11's wait_for (the old worker) can swallow a cancel: repeat it
                if ledger._worker.done():
                    break
                ledger._worker.cancel()
                await loop_turn()
