"""``BudgetGuard``: reserve before the call, settle after it, and say what the pressure policy wants.

Below a budget's ``soft_limit`` nothing changes. Between the soft limit and the cap the router's quality
target relaxes in proportion, so traffic shifts to cheaper tiers before anything is refused. At the cap the
budget's action applies. A failing store never fails a request: the decision carries ``degraded_reason`` for
the adapter to log and count, and the guard decides from what it last saw (``OutageCounters``), so a tenant
already at its cap stays capped while Redis is down instead of spending freely; spend settled during the outage
is added to the store once it answers again. The outage bound is per replica (see ``OutageCounters``): each
replica may spend the headroom it last saw plus one request, so R replicas may reach the cap plus R - 1 times
that headroom plus R requests.

Every check reserves under an id of its own (the caller's request id plus a nonce): a store keeps one amount
per reservation id, so two checks sharing an id (a client-chosen call id, a hook that ran twice) must never
be counted as one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from costroute_plugins.budget.config import BudgetsConfig, BudgetSpec, ScopeKind
from costroute_plugins.budget.decision import BudgetDecision, BudgetState, Reservation
from costroute_plugins.budget.periods import Period, period_at
from costroute_plugins.budget.store import BudgetStore, Charge, Usage, amount_nanos, to_nanos, to_usd

# Counters outlive their period a little, so a request settled just after midnight still finds its reservation.
EXPIRY_GRACE = timedelta(hours=1)
# Projection from the first seconds of a period is noise: extrapolate from at least this much elapsed time.
MIN_PROJECTION_ELAPSED_S = 600.0
# Cap actions in the order they win when several budgets of one request are at their cap.
_SEVERITY = {"block": 0, "throttle": 1, "downgrade": 2}
# Scopes whose value the caller chooses (the body's ``user``, a ``feature:`` tag): counted within the owner.
CLAIMED_SCOPES: frozenset[ScopeKind] = frozenset({"end_user", "feature"})


@dataclass(frozen=True)
class BudgetSubject:
    """Who a request is billed to, in each scope kind a budget can be counted per.

    ``owner`` is the authenticated party that sent the request (``Identity.owner``: ``team:<id>``,
    ``key:<hash16>``); unset, the tenant. ``end_user`` and ``feature`` are the caller's claims, so they are
    counted within the owner: team A's ``feature:search`` never moves team B's counter, while a budget's
    ``match`` still compares the value as sent.
    """

    tenant: str
    team: str | None = None
    key: str | None = None
    end_user: str | None = None
    feature: str | None = None
    owner: str | None = None

    def of(self, scope: ScopeKind) -> str | None:
        """The value as sent or authenticated: what a budget's ``match`` compares."""
        return getattr(self, scope)

    def counted_as(self, scope: ScopeKind) -> str | None:
        """The subject a budget of ``scope`` counts this request under: a claimed value within its owner
        (``search@team:acme``), any other value as it is."""
        value = self.of(scope)
        if value and scope in CLAIMED_SCOPES:
            return f"{value}@{self.owner or self.tenant}"
        return value


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Unsettled:
    keys: tuple[str, ...]
    actual: int
    expires_at: tuple[float, ...]


@dataclass(frozen=True)
class _Hold:
    keys: tuple[str, ...]
    amount: int
    lapses_at: float


@dataclass
class OutageCounters:
    """This replica's view of the counters, to decide from while the store is down.

    A counter's view is ``last_seen`` (what the store said it committed at this replica's last successful
    reservation on it, that reservation included, plus outage spend this replica has since added to the store)
    plus ``unconfirmed``: what this replica let through while the store was down and the store has not counted
    yet, that is each request's estimate while it runs (``holds``, lapsing after ``ttl_s`` like a store
    reservation) and then its actual cost until it is replayed (``unsettled``). A successful check on one counter
    updates that counter only, so a store that flaps never resets what an outage let through.

    The bound, per counter: a replica refuses once its view reaches the cap, so during an outage it lets
    through at most the headroom it last saw (cap minus ``last_seen``) plus one request. Replicas do not see
    each other's outage spend: with R replicas that last saw headroom h, the counter can end at
    cap + (R - 1) x h + R requests. A replica that never saw the counter (started during the outage, or the
    period began during it) takes it as empty, so its h is the whole cap. A tenant at its cap when the store
    failed stays capped on every replica that saw it there.
    """

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    last_seen: dict[str, int] = field(default_factory=dict)
    unconfirmed: dict[str, int] = field(default_factory=dict)
    holds: dict[str, _Hold] = field(default_factory=dict)
    unsettled: list[_Unsettled] = field(default_factory=list)
    max_unsettled: int = 100_000

    def _add(self, keys: Sequence[str], amount: int) -> None:
        for key in keys:
            total = self.unconfirmed.get(key, 0) + amount
            if total > 0:
                self.unconfirmed[key] = total
            else:
                self.unconfirmed.pop(key, None)

    def _lapse(self) -> None:
        """Drop holds never settled (a crashed request), oldest first: holds lapse in the order they were made."""
        now = self.clock()
        while self.holds:
            hold_id, hold = next(iter(self.holds.items()))
            if hold.lapses_at > now:
                return
            del self.holds[hold_id]
            self._add(hold.keys, -hold.amount)

    def seen(self, charges: list[Charge], usage: tuple[Usage, ...]) -> None:
        for charge, counted in zip(charges, usage):
            self.last_seen[charge.key] = counted.committed + charge.amount

    def committed(self, key: str) -> int:
        self._lapse()
        return self.last_seen.get(key, 0) + self.unconfirmed.get(key, 0)

    def hold(self, reservation_id: str, charges: list[Charge]) -> None:
        keys, amount = tuple(c.key for c in charges), charges[0].amount
        self.holds[reservation_id] = _Hold(keys, amount, self.clock() + self.ttl_s)
        self._add(keys, amount)

    def end(self, reservation_id: str) -> _Hold | None:
        """The hold this replica made for ``reservation_id`` while the store was down, no longer counted; None
        for a reservation the store holds."""
        hold = self.holds.pop(reservation_id, None)
        if hold is not None:
            self._add(hold.keys, -hold.amount)
        return hold

    def counted_by_store(self, keys: Sequence[str], actual: int) -> None:
        """The store has added ``actual`` to ``keys``: the view keeps it without waiting for the next check."""
        for key in keys:
            self.last_seen[key] = self.last_seen.get(key, 0) + actual

    def keep(self, item: _Unsettled) -> None:
        """Spend the store could not take, counted here until it is replayed (dropped beyond ``max_unsettled``,
        so a long outage cannot exhaust memory)."""
        if len(self.unsettled) < self.max_unsettled:
            self.unsettled.append(item)
            self._add(item.keys, item.actual)

    def replayed(self, item: _Unsettled) -> None:
        self._add(item.keys, -item.actual)
        self.counted_by_store(item.keys, item.actual)


class BudgetGuard:
    def __init__(self, config: BudgetsConfig, store: BudgetStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self._zone = config.zone
        self._outage = OutageCounters(config.reservation_ttl_s)

    def _applicable(self, subject: BudgetSubject) -> list[tuple[BudgetSpec, str]]:
        """The budgets counting this request and the subject each counts it under, most severe action first."""
        found: list[tuple[BudgetSpec, str]] = []
        for spec in self.config.budgets:
            value, counted = subject.of(spec.scope), subject.counted_as(spec.scope)
            if value and counted and (spec.match is None or spec.match == value):  # counted is set whenever value is
                found.append((spec, counted))
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
        """Reserve ``estimated_cost_usd`` (bounded by ``MAX_AMOUNT_USD``) on every budget of ``subject`` and decide,
        under a reservation id of this check's own (``request_id`` names it for whoever reads the store). Never
        raises."""
        budgets = self._applicable(subject) if self.config.enabled else []
        if not budgets:
            return BudgetDecision("allow", "unlimited")
        exempt = subject.tenant in self.config.exempt_tenants
        now = self._clock()
        periods = [period_at(spec.period, now, self._zone) for spec, _ in budgets]
        amount = amount_nanos(estimated_cost_usd)
        charges = [
            Charge(
                key=self._counter(spec, value, period),
                amount=amount,
                cap=None if exempt or spec.action == "downgrade" else to_nanos(spec.limit_usd),
                expires_at=(period.end + EXPIRY_GRACE).timestamp(),
            )
            for (spec, value), period in zip(budgets, periods)
        ]
        reservation_id = f"{request_id or 'check'}.{uuid.uuid4().hex}"
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
        self._outage.hold(reservation_id, charges)
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
            self._outage.replayed(item)

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
        """Replace the reservation by the actual cost; 0 releases it (failed or cancelled call). A cost that is
        negative or NaN (an upstream's negative token counts) settles as 0, one above ``MAX_AMOUNT_USD`` as that.
        Returns an error text when the store failed (the reservation then lapses after ``reservation_ttl_s``, the
        cost is replayed when the store answers again), else None. Never raises."""
        held = decision.reservation
        if held is None:
            return None
        actual = amount_nanos(actual_cost_usd)
        try:
            await self.store.settle(held.id, held.keys, actual, held.expires_at)
        except Exception as error:
            self._outage.end(held.id)
            if actual:
                self._outage.keep(_Unsettled(held.keys, actual, held.expires_at))
            return f"{type(error).__name__}: {error}"
        if self._outage.end(held.id) is not None:  # an outage hold: the store has its cost only now
            self._outage.counted_by_store(held.keys, actual)
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
