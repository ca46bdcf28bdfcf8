"""``BudgetGuard``: reserve before the call, settle after it, and say what the pressure policy wants.

Below a budget's ``soft_limit`` nothing changes. Between the soft limit and the cap the router's quality
target relaxes in proportion, so traffic shifts to cheaper tiers before anything is refused. At the cap the
budget's action applies. A failing store never fails a request: the decision carries ``degraded_reason`` for
the adapter to log and count, and the guard decides from what it last saw (``OutageCounters``), so a tenant
already at its cap stays capped while Redis is down instead of spending freely; spend settled during the outage
is added to the store once it answers again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from costroute_plugins.budget.config import BudgetsConfig, BudgetSpec, ScopeKind
from costroute_plugins.budget.decision import BudgetDecision, BudgetState, Reservation
from costroute_plugins.budget.periods import Period, period_at
from costroute_plugins.budget.store import BudgetStore, Charge, Usage, to_nanos, to_usd

# Counters outlive their period a little, so a request settled just after midnight still finds its reservation.
EXPIRY_GRACE = timedelta(hours=1)
# Projection from the first seconds of a period is noise: extrapolate from at least this much elapsed time.
MIN_PROJECTION_ELAPSED_S = 600.0
# Cap actions in the order they win when several budgets of one request are at their cap.
_SEVERITY = {"block": 0, "throttle": 1, "downgrade": 2}


@dataclass(frozen=True)
class BudgetSubject:
    """Who a request is billed to, in each scope kind a budget can be counted per."""

    tenant: str
    team: str | None = None
    key: str | None = None
    end_user: str | None = None
    feature: str | None = None

    def of(self, scope: ScopeKind) -> str | None:
        return getattr(self, scope)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Unsettled:
    keys: tuple[str, ...]
    actual: int
    expires_at: tuple[float, ...]


@dataclass
class OutageCounters:
    """This replica's view of the counters for when the store is down: the committed amount each counter had
    at its last successful reservation, plus what this replica let through since the outage began, and the
    settlements the store could not take yet (replayed, as plain spend, when it answers again).

    Per replica: during an outage each replica may spend a counter's remaining headroom once, so the bound is
    the cap plus one request per replica for tenants under their cap, and the cap itself for tenants at it."""

    last_seen: dict[str, int] = field(default_factory=dict)
    let_through: dict[str, int] = field(default_factory=dict)
    unsettled: list[_Unsettled] = field(default_factory=list)
    max_unsettled: int = 100_000

    def seen(self, charges: list[Charge], usage: tuple[Usage, ...]) -> None:
        for charge, counted in zip(charges, usage):
            self.last_seen[charge.key] = counted.committed + charge.amount
        self.let_through.clear()

    def committed(self, key: str) -> int:
        return self.last_seen.get(key, 0) + self.let_through.get(key, 0)

    def hold(self, charges: list[Charge]) -> None:
        for charge in charges:
            self.let_through[charge.key] = self.let_through.get(charge.key, 0) + charge.amount

    def keep(self, held: Reservation, actual: int) -> None:
        if len(self.unsettled) < self.max_unsettled:
            self.unsettled.append(_Unsettled(held.keys, actual, held.expires_at))


class BudgetGuard:
    def __init__(self, config: BudgetsConfig, store: BudgetStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self._zone = config.zone
        self._outage = OutageCounters()

    def _applicable(self, subject: BudgetSubject) -> list[tuple[BudgetSpec, str]]:
        """The budgets counting this request and the subject each counts it under, most severe action first."""
        found = []
        for spec in self.config.budgets:
            value = subject.of(spec.scope)
            if value and (spec.match is None or spec.match == value):
                found.append((spec, value))
        return sorted(found, key=lambda item: _SEVERITY[item[0].action])

    def _counter(self, spec: BudgetSpec, value: str, period: Period) -> str:
        return f"{spec.name}:{spec.scope}={value}:{period.id}"

    def _state(self, spec: BudgetSpec, value: str, period: Period, usage: Usage, now: datetime) -> BudgetState:
        spent = to_usd(usage.spent)
        elapsed = max(period.elapsed_s(now), min(MIN_PROJECTION_ELAPSED_S, period.length_s))
        return BudgetState(spec.name, value, spec.period, period.end, spec.limit_usd, spent,
                           to_usd(usage.reserved), spent / elapsed * period.length_s)

    async def check(self, subject: BudgetSubject, estimated_cost_usd: float,
                    request_id: str | None = None) -> BudgetDecision:
        """Reserve ``estimated_cost_usd`` on every budget of ``subject`` and decide. Never raises."""
        budgets = self._applicable(subject) if self.config.enabled else []
        if not budgets:
            return BudgetDecision("allow", "unlimited")
        exempt = subject.tenant in self.config.exempt_tenants
        now = self._clock()
        periods = [period_at(spec.period, now, self._zone) for spec, _ in budgets]
        amount = to_nanos(max(estimated_cost_usd, 0.0))
        charges = [
            Charge(
                key=self._counter(spec, value, period),
                amount=amount,
                cap=None if exempt or spec.action == "downgrade" else to_nanos(spec.limit_usd),
                expires_at=(period.end + EXPIRY_GRACE).timestamp(),
            )
            for (spec, value), period in zip(budgets, periods)
        ]
        reservation_id = request_id or uuid.uuid4().hex
        try:
            outcome = await self.store.reserve(reservation_id, charges, self.config.reservation_ttl_s)
        except Exception as error:  # a budget outage must not become a request outage
            reason = f"{type(error).__name__}: {error}"
            return self._without_store(budgets, periods, charges, reservation_id, now, reason)
        self._outage.seen(charges, outcome.usage)
        await self._replay_unsettled()
        states = tuple(self._state(spec, value, period, usage, now)
                       for (spec, value), period, usage in zip(budgets, periods, outcome.usage))
        if outcome.refused is not None:
            spec, _ = budgets[outcome.refused]
            return self._refusal(spec, periods[outcome.refused], states[outcome.refused], now, states)
        reservation = Reservation(reservation_id, tuple(c.key for c in charges), tuple(c.expires_at for c in charges))
        if exempt:
            return BudgetDecision("allow", "exempt", reservation=reservation, states=states)
        return self._pressure(budgets, states, reservation)

    def _without_store(self, budgets: list[tuple[BudgetSpec, str]], periods: list[Period], charges: list[Charge],
                       reservation_id: str, now: datetime, reason: str) -> BudgetDecision:
        """The store is down: refuse what this replica last saw at its cap, let the rest through and count it
        locally, so its actual cost reaches the store when it is back."""
        usage = [Usage(self._outage.committed(charge.key), 0) for charge in charges]
        states = tuple(self._state(spec, value, period, counted, now)
                       for (spec, value), period, counted in zip(budgets, periods, usage))
        for index, (charge, counted) in enumerate(zip(charges, usage)):
            if charge.cap is not None and counted.spent >= charge.cap:
                refusal = self._refusal(budgets[index][0], periods[index], states[index], now, states)
                return replace(refusal, degraded_reason=reason)
        self._outage.hold(charges)
        reservation = Reservation(reservation_id, tuple(c.key for c in charges), tuple(c.expires_at for c in charges))
        return BudgetDecision("allow", "degraded", reservation=reservation, states=states, degraded_reason=reason)

    async def _replay_unsettled(self) -> None:
        """Spend settled while the store was down, added now that it answers (an unknown reservation id settles
        as plain spend). Stops at the first failure and keeps the rest."""
        # Taken whole before the first await: concurrent requests must not replay the same settlement twice.
        pending, self._outage.unsettled = self._outage.unsettled, []
        for index, item in enumerate(pending):
            try:
                await self.store.settle(uuid.uuid4().hex, item.keys, item.actual, item.expires_at)
            except Exception:
                self._outage.unsettled[:0] = pending[index:]
                return

    def _pressure(self, budgets: list[tuple[BudgetSpec, str]], states: tuple[BudgetState, ...],
                  reservation: Reservation) -> BudgetDecision:
        capped = [(spec, state) for (spec, _), state in zip(budgets, states) if state.share >= 1.0]
        if capped:
            spec, state = capped[0]
            return BudgetDecision(
                "downgrade", "capped", pressure=1.0, quality_relaxation=self.config.max_quality_relaxation,
                budget=spec.name, reservation=reservation, states=states,
                message=f"budget {spec.name!r} for {state.subject} is at its {spec.period} cap of "
                        f"${spec.limit_usd:,.2f}; serving the cheapest tier until the period resets",
            )
        pressures = [
            (min(max((state.share - spec.soft_limit) / (1.0 - spec.soft_limit), 0.0), 1.0), spec.name)
            for (spec, _), state in zip(budgets, states)
        ]
        pressure, name = max(pressures)
        if pressure <= 0.0:
            return BudgetDecision("allow", "normal", reservation=reservation, states=states)
        return BudgetDecision("allow", "soft", pressure=pressure,
                              quality_relaxation=pressure * self.config.max_quality_relaxation,
                              budget=name, reservation=reservation, states=states)

    def _refusal(self, spec: BudgetSpec, period: Period, state: BudgetState, now: datetime,
                 states: tuple[BudgetState, ...]) -> BudgetDecision:
        resets = period.end.astimezone(self._zone)
        where = (f"budget {spec.name!r} for {spec.scope} {state.subject} has reached its {spec.period} cap of "
                 f"${spec.limit_usd:,.2f} (spent ${state.spent_usd:,.2f})")
        if spec.action == "throttle":
            retry = spec.retry_after_s or max(int(period.remaining_s(now)) + 1, 1)
            return BudgetDecision("throttle", "refused", pressure=1.0, budget=spec.name, retry_after_s=retry,
                                  states=states, message=f"{where}; retry after {retry} s")
        return BudgetDecision("block", "refused", pressure=1.0, budget=spec.name, states=states,
                              message=f"{where}; requests are blocked until it resets at {resets.isoformat()}. "
                                      "Ask the budget owner to raise its limit_usd")

    async def settle(self, decision: BudgetDecision, actual_cost_usd: float) -> str | None:
        """Replace the reservation by the actual cost; 0 releases it (failed call). Returns an error text when
        the store failed (the reservation then lapses after ``reservation_ttl_s``), else None. Never raises."""
        held = decision.reservation
        if held is None:
            return None
        actual = to_nanos(max(actual_cost_usd, 0.0))
        try:
            await self.store.settle(held.id, held.keys, actual, held.expires_at)
        except Exception as error:
            if actual:
                self._outage.keep(held, actual)  # counted when the store answers again
            return f"{type(error).__name__}: {error}"
        return None

    async def close(self) -> None:
        await self.store.close()

    async def states(self, subject: BudgetSubject) -> tuple[BudgetState, ...]:
        """The budgets of ``subject`` as they stand now, for gauges and status pages. Raises store errors."""
        budgets = self._applicable(subject)
        now = self._clock()
        periods = [period_at(spec.period, now, self._zone) for spec, _ in budgets]
        usage = await self.store.usage([self._counter(s, v, p) for (s, v), p in zip(budgets, periods)])
        return tuple(self._state(s, v, p, u, now) for (s, v), p, u in zip(budgets, periods, usage))
