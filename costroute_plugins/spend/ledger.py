"""``SpendLedger``: every finished request becomes exactly one PostgreSQL row, whatever PostgreSQL is doing.

``submit`` never blocks or raises: it puts the record on a bounded in-memory queue (full: straight to the
spool). A background worker writes batches; when PostgreSQL is down the batch goes to the on-disk spool and
the worker retries every ``retry_interval_s``, replaying the spool once PostgreSQL answers. Rows are keyed by
request id with ``ON CONFLICT DO NOTHING``, so replays and retries never duplicate anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import psycopg

from costroute_plugins.spend.config import LedgerConfig
from costroute_plugins.spend.record import AttributionRecord
from costroute_plugins.spend.schema import create_statements, insert_statement, row
from costroute_plugins.spend.spool import Spool

log = logging.getLogger("costroute")
# Errors meaning "PostgreSQL is not there" (spool and retry), as opposed to "PostgreSQL refuses this row".
_UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass
class LedgerStats:
    """Counters the adapter can export: rows sent to PostgreSQL, spooled, replayed, dropped (spool full), and
    rejected by PostgreSQL itself (kept in the ``.rejected`` file beside the spool); and rows stored with token
    counts corrected (``AttributionRecord.tokens_adjusted``)."""

    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    rejected: int = 0
    failures: int = 0
    tokens_adjusted: int = 0

    def count_adjusted(self, record: AttributionRecord) -> None:
        """Count a row whose token counts were corrected (negative, fractional, not numbers or too large); the
        first one is logged, the rest only counted, since a broken upstream sends them on every request."""
        if not record.tokens_adjusted:
            return
        if not self.tokens_adjusted:
            log.warning("spend ledger: request %s came with token counts the ledger cannot store (negative, "
                        "fractional, not numbers or too large); stored corrected, and counted in "
                        "costroute_ledger_adjusted_rows_total from now on (logged once)", record.request_id)
        self.tokens_adjusted += 1


class SpendLedger:
    def __init__(self, config: LedgerConfig) -> None:
        if not config.dsn:
            raise ValueError("spend ledger: no dsn; set costroute.spend.ledger.dsn or $COSTROUTE_LEDGER_DSN")
        self.config = config
        self._dsn: str = config.dsn
        self.stats = LedgerStats()
        self.spool = Spool(config.spool_path, config.spool_max_bytes, config.rejected_max_bytes)
        self._queue: asyncio.Queue[AttributionRecord] = asyncio.Queue(maxsize=config.queue_size)
        self._insert_sql = insert_statement(config.db_schema, config.table)
        self._connection: psycopg.AsyncConnection | None = None
        self._worker: asyncio.Task | None = None
        self._in_flight: list[AttributionRecord] = []  # the batch the worker is writing right now
        self._next_try = 0.0  # monotonic time before which a down PostgreSQL is not tried again
        self._draining = False  # the process is stopping: rows go straight to the spool

    @property
    def healthy(self) -> bool:
        """False while PostgreSQL is unreachable (rows are being spooled)."""
        return self._connection is not None and not self.spool.pending()

    @property
    def queued(self) -> int:
        """Rows in memory, not yet in PostgreSQL nor in the spool."""
        return self._queue.qsize() + len(self._in_flight)

    async def start(self) -> None:
        """Start the worker; connects (and creates the table) now if PostgreSQL answers, later otherwise. Never
        raises because of the spool: a replay that fails here is retried by the worker."""
        await self._ensure_connection()
        await self._replay_or_log()
        self._worker = asyncio.create_task(self._run(), name="costroute-spend-ledger")

    def submit(self, record: AttributionRecord) -> None:
        """Queue a record for writing. Never blocks, never raises; a full queue (or a process that is stopping,
        see ``drain_to_spool``) spools to disk."""
        self.stats.count_adjusted(record)
        if self._draining:
            self._spool([record])
            return
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._spool([record])

    async def flush(self) -> None:
        """Wait until every record submitted so far is in PostgreSQL or in the spool."""
        await self._queue.join()

    def drain_to_spool(self) -> int:
        """The process is about to stop: spool every row still in memory now, and every row submitted from now
        on, synchronously, so a stop that ends the process abruptly (uvicorn re-raises SIGTERM once it has shut
        down) loses nothing. The worker keeps replaying the spool into PostgreSQL while the process lives; the
        next start replays the rest. Returns how many rows were in memory."""
        self._draining = True
        return self.spool_unsent()

    def spool_unsent(self) -> int:
        """Move every row still in memory to the spool, synchronously (also done when the worker is cancelled).
        The next start replays them; a row of a batch that did reach PostgreSQL before the stop is ignored there,
        being keyed by request id. Returns how many were spooled."""
        unsent, self._in_flight = list(self._in_flight), []
        while True:
            try:
                unsent.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        for _ in unsent:
            self._queue.task_done()
        if unsent:
            self._spool(unsent)
            log.warning("spend ledger: stopping with %d rows not yet written; spooled to %s, replayed as soon as "
                        "PostgreSQL answers or at the next start", len(unsent), self.spool.path)
        return len(unsent)

    async def close(self) -> None:
        """Flush, try the spool once more, stop the worker and close the connection. What is still spooled
        stays on disk and is replayed by the next start."""
        await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self.spool.pending():
            self._next_try = 0.0
            await self._replay_or_log()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    # -- worker --------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            batch: list[AttributionRecord] = []
            try:
                batch = await self._next_batch()
                if batch:
                    await self._write_or_spool(batch)
                if self.spool.pending():
                    await self._replay()
            except asyncio.CancelledError:  # the event loop is closing: keep what is in memory on disk
                self.spool_unsent()
                raise
            except Exception:  # e.g. the spool's disk fails during a replay: say so, and keep the worker alive
                log.exception("spend ledger: unexpected worker error")
            finally:
                self._release(batch)

    def _release(self, batch: list[AttributionRecord]) -> None:
        """Mark a written batch done, unless ``spool_unsent`` has already taken (and marked) it."""
        if batch and batch is self._in_flight:
            self._in_flight = []
            for _ in batch:
                self._queue.task_done()

    async def _next_batch(self) -> list[AttributionRecord]:
        """Up to ``batch_size`` records, waiting at most ``flush_interval_s`` after the first one arrives (or
        ``retry_interval_s`` for the first, so a pending spool is retried even without traffic). The batch is
        ``_in_flight`` from its first record on, so ``spool_unsent`` sees it while it is still filling.

        A record is never anywhere else: it moves from the queue into ``_in_flight`` within one step of this
        task. (``asyncio.wait_for`` around ``Queue.get`` would break that on Python 3.11: it runs the get in a
        task of its own, which takes the record off the queue some loop iterations before this one resumes to
        keep it, and a ``spool_unsent`` at a stop signal in between would find it in neither place.) Records
        are appended to whatever list is ``_in_flight`` at the time, so those taken after a ``spool_unsent``
        form a batch of their own instead of joining the one it has already spooled."""
        wait = self.config.retry_interval_s if self.spool.pending() else None
        if not self._in_flight and not await self._take_one(wait):
            return []
        deadline = time.monotonic() + self.config.flush_interval_s
        while len(self._in_flight) < self.config.batch_size:
            try:
                self._in_flight.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._take_one(remaining):
                break
        return self._in_flight

    async def _take_one(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (``None``: for ever) for a record and move it to ``_in_flight`` in the
        same step as ``Queue.get`` takes it off the queue; False when none came. ``asyncio.timeout`` cancels this
        very task, and a cancelled ``Queue.get`` leaves its record on the queue."""
        try:
            async with asyncio.timeout(timeout):
                record = await self._queue.get()
        except TimeoutError:
            return False
        self._in_flight.append(record)
        return True

    async def _write_or_spool(self, batch: list[AttributionRecord]) -> None:
        # Keep arrival order: while an older spool is pending, new rows queue behind it on disk.
        if self.spool.pending() or not await self._write(batch):
            self._spool(batch)
        else:
            self.stats.written += len(batch)

    async def _replay(self) -> None:
        path = self.spool.take() if await self._ensure_connection() else None
        if path is None:
            return
        replayed = 0
        for chunk in self.spool.chunks(path, self.config.batch_size):
            if chunk.records and not await self._write(chunk.records):
                log.warning("spend ledger: replay of %s interrupted after %d rows; will resume", path, replayed)
                return
            self.spool.commit(chunk)
            replayed += len(chunk.records)
            self.stats.replayed += len(chunk.records)
        self.spool.done(path)
        log.warning("spend ledger: PostgreSQL is back; %d spooled rows replayed", replayed)

    async def _replay_or_log(self) -> None:
        """Replay outside the worker (at start and close), where an error must not stop the proxy starting or
        stopping, e.g. a spool the process may not read; what is not replayed stays on disk for the next try."""
        try:
            await self._replay()
        except Exception:
            log.exception("spend ledger: could not replay the spool %s; it is kept and tried again",
                          self.spool.path)

    # -- PostgreSQL ----------------------------------------------------------------------------------------------
    async def _ensure_connection(self) -> bool:
        if self._connection is not None and not self._connection.closed:
            return True
        if time.monotonic() < self._next_try:
            return False
        try:
            connection = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=self.config.connect_timeout_s)
            for statement in create_statements(self.config.db_schema, self.config.table):
                await connection.execute(statement)
        except psycopg.Error as error:
            self._down(error)
            return False
        self._connection = connection
        return True

    async def _insert(self, batch: list[AttributionRecord]) -> None:
        assert self._connection is not None
        async with self._connection.transaction(), self._connection.cursor() as cursor:
            await cursor.executemany(self._insert_sql, [row(record) for record in batch])

    async def _write(self, batch: list[AttributionRecord]) -> bool:
        """One transaction per batch: all rows or none, so a failure spools the whole batch consistently.
        False when PostgreSQL is unreachable. A batch PostgreSQL refuses (a row it cannot store) is retried row
        by row, so one bad row is set aside instead of blocking the ledger behind it forever."""
        if not await self._ensure_connection():
            return False
        try:
            await self._insert(batch)
        except _UNREACHABLE as error:
            self._down(error)
            return False
        except psycopg.Error as error:
            log.error("spend ledger: PostgreSQL refused a batch (%s); writing its rows one by one", error)
            for record in batch:
                try:
                    await self._insert([record])
                except _UNREACHABLE as error:
                    self._down(error)
                    return False  # the caller spools the whole batch; rows already in are ignored on replay
                except psycopg.Error as error:
                    self.spool.reject(record, str(error).strip())
                    self.stats.rejected += 1
        return True

    def _down(self, error: Exception) -> None:
        if self._connection is not None or self.stats.failures == 0:
            log.warning("spend ledger: PostgreSQL unavailable (%s); spooling to %s, retrying every %g s",
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
                        self.spool.path, self.config.retry_interval_s)
        self.stats.failures += 1
        connection, self._connection = self._connection, None
        if connection is not None:
            asyncio.get_running_loop().create_task(_close_quietly(connection))
        self._next_try = time.monotonic() + self.config.retry_interval_s

    def _spool(self, records: list[AttributionRecord]) -> None:
        try:
            written = self.spool.append(records)
        except OSError as error:  # e.g. the disk is full: count the rows as dropped rather than raise into submit
            log.error("spend ledger: cannot write the spool %s (%s); %d rows dropped", self.spool.path, error,
                      len(records))
            written = 0
        self.stats.spooled += written
        self.stats.dropped += len(records) - written


async def _close_quietly(connection: psycopg.AsyncConnection) -> None:
    try:
        await connection.close()
    except psycopg.Error:
        pass
