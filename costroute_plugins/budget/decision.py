"""``BudgetDecision``: what the budget check says about one request, in terms the proxy adapter can act on.

The adapter maps it to LiteLLM behaviour: ``allow`` sends the request (the router may use
``quality_relaxation``), ``downgrade`` pins it to the cheapest tier, ``throttle`` answers 429 with
``Retry-After``, ``block`` answers 403 with ``message``. It keeps ``reservation`` to settle after the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Action = Literal["allow", "downgrade", "throttle", "block"]
# normal: all budgets under their soft limit; soft: between soft limit and cap; capped: a downgrade budget is at
# its cap; refused: throttled or blocked; exempt / unlimited: no enforcement; degraded: store down, failed open.
Level = Literal["normal", "soft", "capped", "refused", "exempt", "unlimited", "degraded"]


@dataclass(frozen=True)
class BudgetState:
    """One budget counter as seen by this request (before its own reservation)."""

    budget: str
    subject: str
    period: str
    period_end: datetime
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    projected_usd: float

    @property
    def share(self) -> float:
        return (self.spent_usd + self.reserved_usd) / self.limit_usd

    @property
    def remaining_usd(self) -> float:
        return max(self.limit_usd - self.spent_usd - self.reserved_usd, 0.0)

    @property
    def label(self) -> str:
        """The ``budget`` label of the budget gauges: the budget's name and whose counter it is."""
        return f"{self.budget}/{self.subject}"


@dataclass(frozen=True)
class Reservation:
    """Handle to settle: the reservation id and the counters it holds."""

    id: str
    keys: tuple[str, ...]
    expires_at: tuple[float, ...]


@dataclass(frozen=True)
class BudgetDecision:
    action: Action
    level: Level
    pressure: float = 0.0  # 0 below every soft limit, 1 at the cap, linear in between
    quality_relaxation: float = 0.0  # pressure x max_quality_relaxation: how far router thresholds move up
    budget: str | None = None  # the budget that decided (the most pressing one)
    message: str | None = None
    retry_after_s: int | None = None
    reservation: Reservation | None = None
    states: tuple[BudgetState, ...] = ()
    degraded_reason: str | None = None  # set when the store failed and the request was allowed anyway

    @property
    def allowed(self) -> bool:
        return self.action in ("allow", "downgrade")

    @property
    def http_status(self) -> int | None:
        """429 for throttle (clients retry after ``Retry-After``), 403 for block (retrying will not help)."""
        return {"throttle": 429, "block": 403}.get(self.action)

    @property
    def state_label(self) -> str:
        """Short text for the attribution record: ``normal``, ``soft:team-daily@82%``, ``refused:...``."""
        if self.budget is None:
            return self.level
        state = next((s for s in self.states if s.budget == self.budget), None)
        return f"{self.level}:{self.budget}" + (f"@{state.share:.0%}" if state else "")

    def relax_threshold(self, threshold: float) -> float:
        """A router threshold on a 0..1 premium-need score, moved toward 1 by ``quality_relaxation``, so fewer
        requests reach dearer tiers as a budget fills up."""
        return threshold + self.quality_relaxation * (1.0 - threshold)
