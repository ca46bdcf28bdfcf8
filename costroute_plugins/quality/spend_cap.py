"""How much audits may spend: a cap per day in USD and a cap as a share of that day's savings, whichever is lower.

Audits buy a measurement with money the routing saved, so they must never eat the saving: at most
``max_share_of_savings`` of the day's savings (gross, before audit spend is subtracted, else the cap would depend
on itself) and never more than ``max_usd_per_day``. A day without savings yet gets no audits.

An audit is admitted on its *estimated* cost, reserved before its first call and replaced by the actual cost
when it ends, so concurrent audits cannot together overshoot. The cap holds exactly when the estimate is an
upper bound: the caller prices the reference and judge calls at their ``max_tokens``. Amounts are integer nano-USD
as in the budget counters, so the check below and the store's agree to the last unit.

The counters are the budget package's ``BudgetStore``: ``InMemoryBudgetStore`` in one process,
``RedisBudgetStore`` (atomic Lua, reservations that lapse when a replica dies) when replicas must share the cap.
Days start at midnight in the given time zone, as budget days do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from costroute_plugins.budget.periods import period_at
from costroute_plugins.budget.store import BudgetStore, Charge, amount_nanos, to_nanos, to_usd
from costroute_plugins.quality.config import QualityConfig

SpendReason = Literal["allowed", "unpriced", "daily_cap", "savings_cap"]
# A day's counter is kept this long after the day ends, for reports of yesterday's audit spend.
_KEEP_AFTER_DAY_S = 86_400.0
_UTC = ZoneInfo("UTC")


def cap_usd(config: QualityConfig, savings_usd: float) -> float:
    """Today's audit cap: the lower of the daily amount and the share of today's (gross) savings."""
    return min(config.max_usd_per_day, config.max_share_of_savings * max(savings_usd, 0.0))


@dataclass(frozen=True)
class SpendCheck:
    """Whether an audit may start; ``committed_usd``: spent plus reserved today before it."""

    allowed: bool
    reason: SpendReason
    cap_usd: float
    committed_usd: float


def check_spend(config: QualityConfig, committed_usd: float, savings_usd: float, estimate_usd: float) -> SpendCheck:
    """May an audit estimated at ``estimate_usd`` start, with ``committed_usd`` already spent or reserved today
    and ``savings_usd`` saved today? Never when it cannot be priced (an estimate of 0 or less, or NaN, would
    slip past every cap)."""
    cap = cap_usd(config, savings_usd)
    if not estimate_usd > 0:
        return SpendCheck(False, "unpriced", cap, committed_usd)
    after = to_nanos(committed_usd) + amount_nanos(estimate_usd)
    if after > to_nanos(config.max_usd_per_day):
        return SpendCheck(False, "daily_cap", cap, committed_usd)
    if after > to_nanos(cap):
        return SpendCheck(False, "savings_cap", cap, committed_usd)
    return SpendCheck(True, "allowed", cap, committed_usd)


@dataclass(frozen=True)
class AuditReservation:
    """An admitted audit's hold on its day's counter; settle it once, with what the audit really cost."""

    id: str
    key: str
    expires_at: float


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditSpendGovernor:
    """Admits audits against the day's caps on a ``BudgetStore`` shared by whoever must share the cap."""

    def __init__(self, config: QualityConfig, store: BudgetStore, *, clock: Callable[[], datetime] = _utc_now,
                 zone: ZoneInfo = _UTC, reservation_ttl_s: float = 600.0) -> None:
        """``clock``: aware datetimes (days are read from it); ``reservation_ttl_s``: an audit never settled
        (its replica died) stops holding the cap after this long, so size it above an audit's longest run."""
        self.config = config
        self.store = store
        self.clock = clock
        self.zone = zone
        self.reservation_ttl_s = reservation_ttl_s

    def _today(self) -> tuple[str, float]:
        period = period_at("daily", self.clock(), self.zone)
        return f"audit_spend:{period.id}", period.end.timestamp() + _KEEP_AFTER_DAY_S

    async def reserve(self, estimate_usd: float, savings_today_usd: float,
                      request_id: str = "") -> tuple[SpendCheck, AuditReservation | None]:
        """Check the caps and hold ``estimate_usd`` on today's counter, atomically; the reservation is None
        when the audit may not start (nothing is then held). A store error (Redis down) raises: skip the audit
        then, since spending without the shared counter could pass the cap."""
        key, expires_at = self._today()
        alone = check_spend(self.config, 0.0, savings_today_usd, estimate_usd)
        if not alone.allowed:  # unpriced, or over the cap even on an empty day: the store need not be asked
            return alone, None
        amount = amount_nanos(estimate_usd)
        # The store refuses when committed >= cap; committed + amount > cap is committed >= cap - amount + 1.
        limit = to_nanos(cap_usd(self.config, savings_today_usd)) - amount + 1
        reservation_id = f"audit.{request_id}.{uuid.uuid4().hex}"
        outcome = await self.store.reserve(reservation_id, [Charge(key, amount, limit, expires_at)],
                                           self.reservation_ttl_s)
        committed = to_usd(outcome.usage[0].committed)
        if outcome.refused is not None:
            return check_spend(self.config, committed, savings_today_usd, estimate_usd), None
        return (SpendCheck(True, "allowed", alone.cap_usd, committed),
                AuditReservation(reservation_id, key, expires_at))

    async def settle(self, reservation: AuditReservation, actual_usd: float) -> None:
        """Replace the hold by the actual cost, on the day the audit started (even if it ended after midnight)."""
        await self.store.settle(reservation.id, [reservation.key], amount_nanos(actual_usd), [reservation.expires_at])

    async def spent_today(self) -> float:
        """Settled audit spend today, USD (audits in flight not included)."""
        key, _expires_at = self._today()
        return to_usd((await self.store.usage([key]))[0].spent)
