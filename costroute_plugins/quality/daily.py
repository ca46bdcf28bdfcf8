"""Today's gross savings on this replica: what the audit cap's share-of-savings rule is measured against.

The absolute daily cap is shared by every replica through the budget store (``spend_cap``); the share of savings
is read from the savings this replica recorded since midnight UTC, so with R replicas each audits at most its
own share of its own savings: the same share of the whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DailyTotal:
    """A running USD total that starts again at each UTC day."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock
        self._day: date | None = None
        self._total = 0.0
        self._lock = threading.Lock()

    def _roll(self) -> None:
        today = self.clock().astimezone(UTC).date()
        if today != self._day:
            self._day, self._total = today, 0.0

    def add(self, usd: float) -> None:
        """Add a finite, positive amount (anything else is ignored: a saving cannot be negative)."""
        if not usd > 0.0 or usd == float("inf"):
            return
        with self._lock:
            self._roll()
            self._total += usd

    def today(self) -> float:
        with self._lock:
            self._roll()
            return self._total
