"""The spend report computed in Python from ledger rows in JSON-lines files (a file ledger, or a PostgreSQL
ledger's spool), for a machine without PostgreSQL.

It answers exactly what ``report.build_report`` answers over the same rows: the same groups, ``(none)`` for a
missing attribution, days in ``tz``, audit rows counted in cost but not in requests or tier shares, Decimal sums
(so totals equal the rows to the 1e-10 USD), and the same order. A request id seen again is ignored, as
PostgreSQL's primary key ignores a second insert: the first row read wins, so give older files first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costroute_plugins.spend.attribution import AUDIT_DECISION
from costroute_plugins.spend.record import AttributionRecord
from costroute_plugins.spend.report import GroupBy, ReportRow
from costroute_plugins.spend.spool import parse_line

NONE = "(none)"  # what the SQL report's coalesce shows for a missing attribution


@dataclass
class RowFiles:
    """What ``read_rows`` found: each request's first row, and the lines that were not rows (a write torn by a
    crash, a stray edit), counted rather than stopping the report."""

    records: list[AttributionRecord] = field(default_factory=list)
    duplicates: int = 0
    unreadable: int = 0
    first_problem: str | None = None


def read_rows(paths: Sequence[str | Path]) -> RowFiles:
    """The rows of ``paths`` in order, each request id once. A file that has lines but not one row is not a
    ledger file at all: ``ValueError`` naming it, rather than a report of nothing."""
    found = RowFiles()
    seen: set[str] = set()
    for path in map(Path, paths):
        rows = lines = 0
        for number, line in _lines(path):
            lines += 1
            try:
                record = parse_line(line)
            except (ValueError, RecursionError) as error:
                found.unreadable += 1
                found.first_problem = found.first_problem or f"{path}:{number}: {error}"
                continue
            rows += 1
            if record.request_id in seen:
                found.duplicates += 1
                continue
            seen.add(record.request_id)
            found.records.append(record)
        if lines and not rows:
            raise ValueError(f"{path}: none of its {lines} lines is a ledger row ({found.first_problem}); give a "
                             "file the ledger wrote (spend.ledger.file, or its spool_path)")
    return found


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers, read as bytes so no content stops the reading."""
    with path.open("rb") as rows:
        for number, line in enumerate(rows, 1):
            if line.strip():
                yield number, line


def time_zone(name: str) -> tzinfo:
    """``name`` as a zone, as PostgreSQL's ``AT TIME ZONE`` would take it; ``ValueError`` when unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not a time zone; use an IANA name such as UTC or Europe/Paris") from error


def _group_of(record: AttributionRecord, by: GroupBy, zone: tzinfo) -> str:
    if by == "day":
        day = record.timestamp.astimezone(zone)
        return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"  # to_char's YYYY-MM-DD pads the year too
    value = getattr(record, by)
    return NONE if value is None else value


@dataclass
class _Totals:
    requests: int = 0
    cost_usd: Decimal = Decimal(0)
    cache_saving_usd: Decimal = Decimal(0)
    routing_saving_usd: Decimal = Decimal(0)
    cache_hits: int = 0
    audit_usd: Decimal = Decimal(0)
    tiers: dict[str, int] = field(default_factory=dict)

    def add(self, record: AttributionRecord) -> None:
        self.cost_usd += record.cost_usd
        self.cache_saving_usd += record.cache_saving_usd
        self.routing_saving_usd += record.routing_saving_usd
        self.cache_hits += record.cache_hit
        if record.decision == AUDIT_DECISION:
            self.audit_usd += record.cost_usd
            return
        self.requests += 1
        tier = NONE if record.tier is None else record.tier
        self.tiers[tier] = self.tiers.get(tier, 0) + 1

    def row(self, group: str) -> ReportRow:
        shares = {tier: count / self.requests for tier, count in sorted(self.tiers.items())}
        return ReportRow(group, self.requests, self.cost_usd, self.cache_saving_usd, self.routing_saving_usd,
                         self.cache_hits, shares, self.audit_usd)


def aggregate(records: Iterable[AttributionRecord], by: GroupBy, since: timedelta, tz: str = "UTC",
              now: datetime | None = None) -> list[ReportRow]:
    """One row per group over the last ``since``, dearest first (by day: in date order), as ``build_report``.
    ``records`` should hold each request id once (``read_rows`` sees to it)."""
    zone = time_zone(tz)
    start = (now or datetime.now(UTC)) - since
    groups: dict[str, _Totals] = {}
    for record in records:
        if record.timestamp >= start:
            groups.setdefault(_group_of(record, by, zone), _Totals()).add(record)
    rows = [totals.row(group) for group, totals in groups.items()]
    if by == "day":
        return sorted(rows, key=lambda r: r.group)
    return sorted(rows, key=lambda r: (-r.cost_usd, r.group))
