"""Budget alerts: the moment a budget's spend crosses its soft limit, and the moment it reaches its cap.

Pure decision logic. The proxy adapter passes every budget decision to ``crossings``, lets each alert through
once with ``AlertOnce`` (``budget/alert_once.py``) and posts it to ``budget.webhook_url`` off the request path.

Crossings are read from *settled* spend (``BudgetState.spent_usd``), not from spend plus in-flight reservations:
a reservation is an upper bound that settling usually shrinks, so a burst of concurrent requests would otherwise
announce a soft limit the spend never reaches. The alert therefore goes out with the first check after the
crossing request settled. A request that jumps past both thresholds announces only the cap: a soft-limit alert
then would arrive with nothing left to act on. Decisions taken while the store is down announce nothing (their
figures are this replica's guess; the first check after the store answers announces the crossing), and neither
do exempt tenants' (no action applies to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from costroute_plugins.budget.config import BudgetsConfig, CapAction, PeriodKind, ScopeKind
from costroute_plugins.budget.decision import BudgetDecision
from costroute_plugins.budget.guard import EXPIRY_GRACE

AlertLevel = Literal["soft_limit", "cap"]

# What a client of the budget gets once it is at the cap, in the words an alert's reader needs.
AT_CAP = {
    "downgrade": "its requests are served by the cheapest tier",
    "throttle": "its requests are refused with HTTP 429 and Retry-After",
    "block": "its requests are refused with HTTP 403",
}
# Decisions whose states say nothing an alert may repeat (see the module docstring).
SILENT_LEVELS = frozenset({"degraded", "exempt", "unlimited"})


@dataclass(frozen=True)
class BudgetAlert:
    """One budget counter (a budget and the subject it counts) that crossed ``level`` in the period ending at
    ``period_end`` (in ``budget.timezone``)."""

    level: AlertLevel
    budget: str
    scope: ScopeKind
    match: str | None
    subject: str
    period: PeriodKind
    period_end: datetime
    spent_usd: float
    limit_usd: float
    soft_limit: float
    action: CapAction

    @property
    def key(self) -> str:
        """What is announced once: this budget counter, this period, this level."""
        return f"{self.budget}/{self.subject}/{self.period_end.timestamp():.0f}/{self.level}"

    @property
    def expires_at(self) -> float:
        """Unix seconds after which ``key`` may be forgotten: the period is over (plus the counters' own grace),
        and the next period's crossing has a key of its own."""
        return (self.period_end + EXPIRY_GRACE).timestamp()

    @property
    def text(self) -> str:
        who = f"budget {self.budget!r} ({self.scope} {self.subject})"
        resets = self.period_end.isoformat()
        cap = f"{self.period} cap of ${self.limit_usd:,.2f}"
        if self.level == "cap":
            return (f"costroute: {who} reached its {cap} (spent ${self.spent_usd:,.2f}): {AT_CAP[self.action]} "
                    f"until it resets at {resets}; raise its limit_usd to lift the cap sooner")
        return (f"costroute: {who} has spent ${self.spent_usd:,.2f} ({self.spent_usd / self.limit_usd:.0%}) of its "
                f"{cap}, past its soft limit of {self.soft_limit:.0%}: auto-routed requests now shift to cheaper "
                f"tiers, and at the cap {AT_CAP[self.action]} (it resets at {resets})")

    def to_json(self) -> dict[str, Any]:
        """Slack-compatible (``text``) and machine-readable (the other fields) at once, like the other alerts."""
        return {
            "type": "costroute.budget_alert", "text": self.text, "level": self.level, "budget": self.budget,
            "scope": self.scope, "match": self.match, "subject": self.subject, "period": self.period,
            "period_resets_at": self.period_end.isoformat(), "spent_usd": self.spent_usd,
            "limit_usd": self.limit_usd, "share": self.spent_usd / self.limit_usd, "soft_limit": self.soft_limit,
            "action": self.action,
        }


def level_of(share: float, soft_limit: float) -> AlertLevel | None:
    """The highest threshold a settled share of the cap has crossed, None below the soft limit."""
    if share >= 1.0:
        return "cap"
    return "soft_limit" if share >= soft_limit else None


def crossings(decision: BudgetDecision, config: BudgetsConfig) -> list[BudgetAlert]:
    """Every budget of ``decision`` whose settled spend is at or past its soft limit or cap, at the highest level
    it reached. Evaluated on every check, so the caller lets each ``BudgetAlert.key`` through only once."""
    if decision.level in SILENT_LEVELS or decision.degraded_reason:
        return []
    specs = {spec.name: spec for spec in config.budgets}
    found = []
    for state in decision.states:
        spec = specs.get(state.budget)
        level = level_of(state.spent_usd / state.limit_usd, spec.soft_limit) if spec is not None else None
        if spec is None or level is None:
            continue
        found.append(BudgetAlert(level, spec.name, spec.scope, spec.match, state.subject, spec.period,
                                 state.period_end.astimezone(config.zone), state.spent_usd, state.limit_usd,
                                 spec.soft_limit, spec.action))
    return found
