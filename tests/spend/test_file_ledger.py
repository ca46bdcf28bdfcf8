"""Without PostgreSQL, `spend.ledger.file` records every finished request as one JSON line, in a bounded file."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from costroute_plugins.config import section_problems
from costroute_plugins.proxy.config_check import check_document
from costroute_plugins.spend import FileLedger, LedgerConfig, SpendLedger, SpendMetrics
from costroute_plugins.spend.ledgers import build_ledger
from costroute_plugins.spend.spool import encode_line, parse_line
from tests.spend.conftest import records


def file_config(path, **overrides) -> LedgerConfig:
    return LedgerConfig.model_validate({"enabled": True, "file": str(path), **overrides})


def rows_in(*paths) -> list[str]:
    """Request ids in the files, in the order written (pass the older file first)."""
    return [parse_line(line).request_id for path in paths if path.exists()
            for line in path.read_bytes().splitlines(keepends=True)]


async def test_each_finished_request_is_appended_as_the_spools_json_line(tmp_path):
    path = tmp_path / "state" / "spend.jsonl"
    ledger = build_ledger(file_config(path))
    assert isinstance(ledger, FileLedger)
    await ledger.start()
    assert path.read_bytes() == b""  # there from the start: a report right away shows an empty ledger

    written = records(25)
    for record in written:
        ledger.submit(record)
    await ledger.close()

    assert path.read_bytes() == b"".join(encode_line(record) for record in written)
    assert [parse_line(line) for line in path.read_bytes().splitlines(keepends=True)] == written
    assert ledger.stats.written == 25 and ledger.stats.dropped == 0 and ledger.healthy
    assert ledger.drain_to_spool() == 0 and ledger.queued == 0  # nothing in memory for a stop to lose


async def test_the_file_rotates_at_its_bound_keeping_one_older_file_with_the_newest_rows(tmp_path):
    path = tmp_path / "spend.jsonl"
    ledger = FileLedger(file_config(path, file_max_bytes=64 * 1024))
    await ledger.start()
    written = records(600)  # about 290 KB of rows: more than four times the bound

    for record in written:
        ledger.submit(record)

    older = tmp_path / "spend.jsonl.1"
    assert path.stat().st_size <= 64 * 1024 and older.stat().st_size <= 64 * 1024
    assert ledger.size() == path.stat().st_size + older.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spend.jsonl", "spend.jsonl.1"]
    kept = rows_in(older, path)
    assert kept == [r.request_id for r in written[-len(kept):]]  # the newest rows, in order, none missing between
    assert older.stat().st_size > 64 * 1024 - 1024  # a file is only rotated once it is (nearly) full
    assert ledger.rotations >= 3 and ledger.stats.written == 600 and ledger.stats.dropped == 0


async def test_a_write_that_fails_is_counted_never_raised_and_writing_resumes(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the ledger's folder should be")
    ledger = FileLedger(file_config(blocker / "spend.jsonl"))
    await ledger.start()  # cannot create the folder: logged, the proxy starts anyway
    metrics_registry = CollectorRegistry()
    SpendMetrics.create(metrics_registry, ledger=ledger)
    written = records(5)

    for record in written[:3]:
        ledger.submit(record)  # the request that finished sees nothing of it

    assert ledger.stats.dropped == 3 and ledger.stats.written == 0 and not ledger.healthy
    assert metrics_registry.get_sample_value("costroute_ledger_rows_total", {"outcome": "dropped"}) == 3
    assert metrics_registry.get_sample_value("costroute_ledger_up") == 0

    blocker.unlink()  # the operator fixes the disk
    for record in written[3:]:
        ledger.submit(record)

    assert rows_in(blocker / "spend.jsonl") == [r.request_id for r in written[3:]] and ledger.healthy
    assert metrics_registry.get_sample_value("costroute_ledger_rows_total", {"outcome": "written"}) == 2
    assert metrics_registry.get_sample_value("costroute_ledger_spool_bytes") == 0  # no spool behind a file


async def test_a_line_torn_by_a_crash_does_not_swallow_the_next_row(tmp_path):
    path = tmp_path / "spend.jsonl"
    path.write_bytes(encode_line(records(1)[0])[:40])  # the last run died mid-write
    ledger = FileLedger(file_config(path))
    await ledger.start()

    record = records(1, start=1)[0]
    ledger.submit(record)

    assert parse_line(path.read_bytes().splitlines(keepends=True)[-1]) == record


def test_a_config_with_a_file_needs_no_dsn_and_builds_the_file_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTROUTE_LEDGER_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    config, problems = section_problems({"spend": {"ledger": {"enabled": True, "file": str(tmp_path / "s.jsonl")}}})

    assert problems == [] and isinstance(build_ledger(config.spend.ledger), FileLedger)  # the file beats the env
    assert isinstance(build_ledger(LedgerConfig(enabled=True)), SpendLedger)
    assert build_ledger(file_config(tmp_path / "s.jsonl", enabled=False)) is None


@pytest.mark.parametrize(("ledger", "expected"), [
    ({"enabled": True, "dsn": "file:.costroute/spend.jsonl"},
     ("costroute.spend.ledger.dsn: 'file:.costroute/spend.jsonl' is a file, not a PostgreSQL connection string. "
      "Fix: write the path as file: .costroute/spend.jsonl and remove dsn")),
    ({"enabled": True, "dsn": "postgresql://db/costroute", "file": "spend.jsonl"},
     "costroute.spend.ledger: dsn and file are both set, and the ledger writes to one of them. Fix: remove file"),
    ({"enabled": True, "file": "  "}, "costroute.spend.ledger.file: is empty. Fix: give a path such as"),
    ({"enabled": True, "file": "spend.jsonl", "file_max_bytes": 1000},
     "costroute.spend.ledger.file_max_bytes: Input should be greater than or equal to 65536"),
])
def test_a_wrong_file_ledger_setting_names_its_key_and_the_fix(ledger, expected):
    _config, problems = section_problems({"spend": {"ledger": ledger}})
    assert len(problems) == 1 and problems[0].startswith(expected), problems
    with pytest.raises(ValidationError):
        LedgerConfig.model_validate(ledger)


def test_a_file_ledger_pointed_at_a_folder_stops_the_start(tmp_path):
    check = check_document({"costroute": {"spend": {"ledger": {"enabled": True, "file": str(tmp_path)}}}})

    assert any(error.startswith(f"costroute.spend.ledger.file: {str(tmp_path)!r} is a folder") for error in check.errors)
