"""A bounded JSON-lines file holding ledger rows while PostgreSQL is down, replayed when it answers again.

Replay renames the file first (``<spool>.replaying``), so rows spooled during a replay land in a fresh file
and are never truncated away; the renamed file is deleted only after all its rows are committed. A crash in
between replays it again, which is harmless because the ledger ignores request ids it already has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from costroute_plugins.spend.record import AttributionRecord

log = logging.getLogger("costroute")


class Spool:
    def __init__(self, path: str | Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.replaying = self.path.with_name(self.path.name + ".replaying")
        self.rejected = self.path.with_name(self.path.name + ".rejected")
        self.max_bytes = max_bytes
        self.unreadable = 0

    def size(self) -> int:
        """Bytes awaiting replay (the spool and an unfinished replay)."""
        return sum(p.stat().st_size for p in (self.path, self.replaying) if p.exists())

    def append(self, records: Sequence[AttributionRecord]) -> int:
        """Write what fits under ``max_bytes`` and return how many; rows beyond the bound are logged as dropped."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        room = self.max_bytes - self.size()
        lines = []
        for record in records:
            line = json.dumps(record.to_json(), separators=(",", ":")) + "\n"
            if len(line.encode()) > room:
                break
            room -= len(line.encode())
            lines.append(line)
        with self.path.open("a", encoding="utf-8") as spool:
            spool.writelines(lines)
            spool.flush()
        lost = len(records) - len(lines)
        if lost:
            log.error("spend ledger: spool %s is full (%d bytes); %d rows dropped", self.path, self.max_bytes, lost)
        return len(lines)

    def reject(self, record: AttributionRecord, error: str) -> None:
        """Set aside a row PostgreSQL refuses (with why), for an operator to fix and re-import; never replayed."""
        log.error("spend ledger: row %s refused by PostgreSQL (%s); kept in %s", record.request_id, error,
                  self.rejected)
        with self.rejected.open("a", encoding="utf-8") as rejected:
            rejected.write(json.dumps({**record.to_json(), "error": error}, separators=(",", ":")) + "\n")

    def pending(self) -> bool:
        return self.replaying.exists() or (self.path.exists() and self.path.stat().st_size > 0)

    def take(self) -> Path | None:
        """The file to replay: an unfinished earlier replay first, else the spool renamed aside."""
        if self.replaying.exists():
            return self.replaying
        if self.path.exists() and self.path.stat().st_size > 0:
            self.path.rename(self.replaying)
            return self.replaying
        return None

    def batches(self, path: Path, size: int) -> Iterator[list[AttributionRecord]]:
        """Rows of ``path`` in batches; a torn last line (crash while writing) is skipped and counted."""
        batch: list[AttributionRecord] = []
        with path.open(encoding="utf-8") as spool:
            for number, line in enumerate(spool, 1):
                try:
                    batch.append(AttributionRecord.from_json(json.loads(line)))
                except (ValueError, KeyError, TypeError) as error:
                    self.unreadable += 1
                    log.error("spend ledger: %s line %d unreadable (%s); skipped", path, number, error)
                    continue
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
