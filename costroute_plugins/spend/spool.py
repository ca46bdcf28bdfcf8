"""A bounded JSON-lines file holding ledger rows while PostgreSQL is down, replayed when it answers again.

Replay renames the file first (``<spool>.replaying``), so rows spooled during a replay land in a fresh file
and are never truncated away; the renamed file is deleted only after all its rows are committed. A crash in
between replays it again, which is harmless because the ledger ignores request ids it already has.

Damage costs the damaged line only. A line that is not a row (a write torn by a crash, a stray byte, JSON of
another shape) is set aside in ``<spool>.rejected`` with why, never replayed and never in the way of the rows
after it; every append starts on a fresh line, so rows written after a torn one are not glued to it. The
set-aside files are bounded too: see ``Spool.set_aside``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costroute_plugins.spend.record import AttributionRecord

log = logging.getLogger("costroute")


@dataclass
class Chunk:
    """Rows read from the file being replayed, the lines among them that are not rows, and the offset where the
    next read starts. Committed (``Spool.commit``) once its rows are in PostgreSQL."""

    start: int
    end: int
    records: list[AttributionRecord] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)


class Spool:
    def __init__(self, path: str | Path, max_bytes: int, rejected_max_bytes: int) -> None:
        self.path = Path(path)
        self.replaying = self.path.with_name(self.path.name + ".replaying")
        self.rejected = self.path.with_name(self.path.name + ".rejected")
        self.rejected_older = self.path.with_name(self.path.name + ".rejected.1")
        self.max_bytes = max_bytes
        self.rejected_max_bytes = rejected_max_bytes
        self.unreadable = 0  # spool lines that were not a row, set aside
        self.discarded = 0  # set-aside lines deleted to keep the .rejected files under their bound
        self._position = 0  # offset in ``replaying`` before which every line is committed or set aside

    def size(self) -> int:
        """Bytes awaiting replay (the spool and an unfinished replay)."""
        return sum(p.stat().st_size for p in (self.path, self.replaying) if p.exists())

    def append(self, records: Sequence[AttributionRecord]) -> int:
        """Write what fits under ``max_bytes`` and return how many; rows beyond the bound are logged as dropped."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        room = self.max_bytes - self.size() - 1  # one byte for the newline that may end a torn line
        lines = []
        for record in records:
            line = encode_line(record)
            if len(line) > room:
                break
            room -= len(line)
            lines.append(line)
        append_on_a_fresh_line(self.path, b"".join(lines))
        lost = len(records) - len(lines)
        if lost:
            log.error("spend ledger: spool %s is full (%d bytes); %d rows dropped", self.path, self.max_bytes, lost)
        return len(lines)

    def reject(self, record: AttributionRecord, error: str) -> None:
        """Set aside a row PostgreSQL refuses (with why), for an operator to fix and re-import; never replayed."""
        log.error("spend ledger: row %s refused by PostgreSQL (%s); kept in %s", record.request_id, error,
                  self.rejected)
        self.set_aside({**record.to_json(), "error": error})

    def set_aside(self, entry: dict[str, Any]) -> None:
        """Append one entry to ``<spool>.rejected``, keeping the set-aside files together under
        ``rejected_max_bytes`` by rotation: at half the bound the file becomes ``<spool>.rejected.1``, replacing
        (deleting) the older one, so the newest entries are kept and the oldest dropped. Dropped lines are
        counted in ``discarded``; the first drop is logged, the rest only counted."""
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()  # ASCII: json escapes the rest
        half = self.rejected_max_bytes // 2
        if len(line) > half:
            self._discard(1)
            return
        if self.rejected.exists() and self.rejected.stat().st_size + len(line) > half:
            if self.rejected_older.exists():
                self._discard(self.rejected_older.read_bytes().count(b"\n"))
            self.rejected.replace(self.rejected_older)
        append_on_a_fresh_line(self.rejected, line)

    def _discard(self, lines: int) -> None:
        if not self.discarded:
            log.error("spend ledger: %s reached rejected_max_bytes (%d bytes); its oldest lines are deleted from now "
                      "on and counted in costroute_ledger_discarded_lines_total (logged once)", self.rejected,
                      self.rejected_max_bytes)
        self.discarded += lines

    def pending(self) -> bool:
        return self.replaying.exists() or (self.path.exists() and self.path.stat().st_size > 0)

    def take(self) -> Path | None:
        """The file to replay: an unfinished earlier replay first (from where it stopped), else the spool
        renamed aside."""
        if self.replaying.exists():
            return self.replaying
        if self.path.exists() and self.path.stat().st_size > 0:
            self.path.rename(self.replaying)
            self._position = 0
            return self.replaying
        return None

    def chunks(self, path: Path, size: int) -> Iterator[Chunk]:
        """``path`` from where the last committed chunk ended, ``size`` lines a chunk. Lines are read as bytes, so
        no content can stop the reading; a line that is not a row travels in its chunk, to be set aside when the
        chunk commits. A replay interrupted by an outage therefore neither resends committed rows nor sets a line
        aside twice."""
        with path.open("rb") as spool:
            spool.seek(self._position)
            chunk = Chunk(self._position, self._position)
            for line in spool:
                start, chunk.end = chunk.end, chunk.end + len(line)
                if line.strip():
                    try:
                        chunk.records.append(parse_line(line))
                    except (ValueError, RecursionError) as error:
                        chunk.unreadable.append({"source": f"{path.name} byte {start}", "error": str(error),
                                                 "line": line.decode("utf-8", "surrogateescape")})
                if len(chunk.records) + len(chunk.unreadable) >= size:
                    yield chunk
                    chunk = Chunk(chunk.end, chunk.end)
            if chunk.end > chunk.start:
                yield chunk

    def commit(self, chunk: Chunk) -> None:
        """The chunk's rows are in PostgreSQL: set its unreadable lines aside and resume after it."""
        if chunk.unreadable:
            first = chunk.unreadable[0]
            log.error("spend ledger: %d spool lines are not rows (%s at %s); set aside in %s",
                      len(chunk.unreadable), first["error"], first["source"], self.rejected)
        for entry in chunk.unreadable:
            self.set_aside(entry)
        self.unreadable += len(chunk.unreadable)
        self._position = chunk.end

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._position = 0


def encode_line(record: AttributionRecord) -> bytes:
    """One row as a spool line (compact JSON, ASCII, newline-terminated). The file ledger writes the same lines,
    so ``costroute report --rows`` reads a spool and a ledger file alike."""
    return (json.dumps(record.to_json(), separators=(",", ":")) + "\n").encode()


def parse_line(line: bytes) -> AttributionRecord:
    """One spool line as a record; ``ValueError`` (or ``RecursionError`` for absurdly nested JSON) otherwise.
    The original bytes of a line that is not UTF-8 survive in the set-aside entry: encode its ``line`` back with
    ``surrogateescape``."""
    try:
        return AttributionRecord.from_json(json.loads(line.decode("utf-8")))
    except ValueError as error:
        if not line.endswith(b"\n"):
            raise ValueError(f"the last line has no newline, a write torn by a crash: {error}") from error
        raise


def append_on_a_fresh_line(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path``, first ending a line left unfinished (a write torn by a crash or a full
    disk), so the first new line is not glued to the torn one and lost with it."""
    with path.open("a+b") as file:
        end = file.seek(0, os.SEEK_END)
        if end:
            file.seek(end - 1)
            if file.read(1) != b"\n":
                data = b"\n" + data
        file.write(data)
        file.flush()
