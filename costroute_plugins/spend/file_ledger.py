"""``FileLedger``: the spend ledger for a machine without PostgreSQL (``make run``), one JSON line per request.

Rows are the spool's lines (``spool.encode_line``), so ``costroute report --rows`` reads this file, its rotated
older file and a PostgreSQL ledger's spool alike. Each ``submit`` appends its line at once: an append of a few
hundred bytes costs less than a queue and a worker would, and nothing is held in memory that a stop could lose,
so there is nothing to spool. The file is bounded: a row that would take it past ``file_max_bytes`` first renames
it to ``<file>.1`` (replacing the older one), so the two files together stay under twice the bound and the
oldest rows go first. A request logged twice (LiteLLM retrying its callback) is written twice; the report counts
each request id once, as PostgreSQL's primary key does. One proxy process per file: two processes rotating the
same file can lose each other's older file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from costroute_plugins.spend.config import LedgerConfig
from costroute_plugins.spend.ledger import LedgerStats
from costroute_plugins.spend.record import AttributionRecord
from costroute_plugins.spend.spool import append_on_a_fresh_line, encode_line

log = logging.getLogger("costroute")


class FileLedger:
    """The interface of ``SpendLedger`` (``start``, ``submit``, ``flush``, ``drain_to_spool``, ``close``,
    ``stats``, ``healthy``, ``queued``) over a local file. ``stats.written`` counts rows in the file,
    ``stats.dropped`` and ``stats.failures`` rows a write failure lost; the spool counters stay 0."""

    def __init__(self, config: LedgerConfig) -> None:
        if not config.file:
            raise ValueError("spend ledger: no file; set costroute.spend.ledger.file, or use SpendLedger for a dsn")
        self.config = config
        self.path = Path(config.file)
        self.older = self.path.with_name(self.path.name + ".1")
        self.max_bytes = config.file_max_bytes
        self.stats = LedgerStats()
        self.rotations = 0
        self._failing = False  # the last write failed; the next success says so once

    @property
    def healthy(self) -> bool:
        """False while writes to the file fail (rows are being dropped and counted)."""
        return not self._failing

    @property
    def queued(self) -> int:
        """Rows in memory: none, every row is written when submitted."""
        return 0

    async def start(self) -> None:
        """Create the file's folder and the file now, so a report right after start finds an empty ledger instead
        of a missing file. A failure is logged, not raised: the proxy serves anyway and each row retries."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError as error:
            self._fail(error, rows=0)

    def submit(self, record: AttributionRecord) -> None:
        """Append the row now. Never raises into the request: a failed write (full disk, a folder where the file
        should be, no permission) is logged once per outage and counted in ``dropped`` and ``failures``."""
        self.stats.count_adjusted(record)
        try:
            self._append(encode_line(record))
        except Exception as error:  # whatever the disk does, the request that finished must not see it
            self._fail(error, rows=1)
            return
        self.stats.written += 1
        if self._failing:
            self._failing = False
            log.warning("spend ledger: writing to %s again", self.path)

    async def flush(self) -> None:
        """Nothing to wait for: rows are in the file when ``submit`` returns."""

    def drain_to_spool(self) -> int:
        """The process is stopping: nothing is in memory, so nothing to move (the stop-signal hook calls this)."""
        return 0

    async def close(self) -> None:
        """Nothing to close: the file is opened for each row."""

    def size(self) -> int:
        """Bytes in the ledger file and its older file."""
        return sum(path.stat().st_size for path in (self.path, self.older) if path.exists())

    def _append(self, line: bytes) -> None:
        if len(line) + 1 > self.max_bytes:  # could never fit, even in a fresh file
            raise ValueError(f"a row of {len(line)} bytes is larger than file_max_bytes ({self.max_bytes})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and size + len(line) + 1 > self.max_bytes:  # + 1: the newline that may end a torn last line
            os.replace(self.path, self.older)
            self.rotations += 1
            log.info("spend ledger: %s reached %d bytes; renamed to %s (the older rows before it are deleted)",
                     self.path, self.max_bytes, self.older)
        append_on_a_fresh_line(self.path, line)

    def _fail(self, error: Exception, rows: int) -> None:
        if not self._failing:
            log.error("spend ledger: cannot write %s (%s); rows are dropped and counted in "
                      "costroute_ledger_rows_total{outcome=\"dropped\"} until it works again", self.path, error)
        self._failing = True
        self.stats.failures += 1
        self.stats.dropped += rows
