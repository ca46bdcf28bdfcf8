"""Calendar periods in the operator's time zone: a budget resets at local midnight, not at UTC midnight.

Bounds are found on the local calendar, then kept as UTC instants: arithmetic between two datetimes of the
same zone is wall-clock arithmetic in Python, which would make a 25-hour DST day 24 hours long, and burn-rate
projection and ``Retry-After`` depend on the real length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from costroute_plugins.budget.config import PeriodKind


@dataclass(frozen=True)
class Period:
    """One day or month: its id (part of the counter key, local calendar), its start and end as UTC instants."""

    kind: PeriodKind
    id: str
    start: datetime
    end: datetime

    @property
    def length_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def elapsed_s(self, now: datetime) -> float:
        return min(max((now - self.start).total_seconds(), 0.0), self.length_s)

    def remaining_s(self, now: datetime) -> float:
        return max((self.end - now).total_seconds(), 0.0)


def period_at(kind: PeriodKind, now: datetime, zone: ZoneInfo) -> Period:
    """The period containing the instant ``now`` (an aware datetime) in ``zone``."""
    if now.tzinfo is None:
        raise ValueError("period_at needs an aware datetime; use datetime.now(timezone.utc)")
    local = now.astimezone(zone)
    if kind == "daily":
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
        following = start.date() + timedelta(days=1)
        end = datetime(following.year, following.month, following.day, tzinfo=zone)
        return Period(kind, f"d{start:%Y-%m-%d}", start.astimezone(UTC), end.astimezone(UTC))
    start = datetime(local.year, local.month, 1, tzinfo=zone)
    end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=zone)
    return Period(kind, f"m{start:%Y-%m}", start.astimezone(UTC), end.astimezone(UTC))
