"""The quality loop of one replica: counts routed answers, adds audit evidence, moves the shared shift.

The classifier asks ``shift()`` on every routed request: a number kept in memory and refreshed from the store
in the background at most every ``loop.refresh_s``, so the request path never waits on Redis. The quality
adapter calls ``observe`` for every routed answer (counted locally) and ``record`` after every finished audit:
only then does this replica send its counts and the audit to the store, in one round trip, read back every
replica's evidence, and let the controller (``controller.decide``) move the shift.

Besides the window of the current shift, every count also goes into an ``all`` window that is never reset:
the proxy's estimate of the quality its routed traffic keeps (``costroute_quality_overall``), whether the loop
is on or off. With ``loop.enabled`` false nothing moves: thresholds stay the calibrated ones.
"""

from __future__ import annotations

import asyncio
import logging

from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.controller import Change, LoopWindow, decide
from costroute_plugins.quality.estimate import Estimate
from costroute_plugins.quality.loop_store import LoopState, LoopStore
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.shared_state import SharedState

log = logging.getLogger("costroute")

#: The version of the never-reset window (shift versions count up from 0).
ALL = -1


class QualityLoop:
    def __init__(self, config: QualityConfig, store: LoopStore, metrics: QualityMetrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self._shared = SharedState(store, config.loop.refresh_s, self._changed, metrics.loop_errors.inc)
        self._pending = LoopWindow()  # this replica's counts under the current version, not yet shared
        self._stale = LoopWindow()  # counts under older versions: the overall estimate only
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.config.loop.enabled

    def shift(self) -> tuple[float, int]:
        """The shift to route with now and its version (which the request carries to its audit); starts a
        background refresh when the known one is older than ``refresh_s``. (0, 0) with the loop off."""
        if not self.enabled:
            return 0.0, 0
        state = self._shared.current()
        return state.shift, state.version

    @property
    def _state(self) -> LoopState:
        return self._shared.state

    def _changed(self, old: LoopState, new: LoopState) -> None:
        if new.version != old.version:
            self._stale.add(self._pending)  # counted under thresholds that no longer apply
            self._pending = LoopWindow()
        self.metrics.loop_shift.set(new.shift)

    async def overall(self) -> Estimate | None:
        """The routed traffic's estimate from every replica's shared evidence so far (this replica's unshared
        counts included)."""
        pending = LoopWindow()
        pending.add(self._pending)
        pending.add(self._stale)
        window = await self.store.add(ALL, LoopWindow())
        window.add(pending)
        return window.estimate()

    def observe(self, below_top: bool, version: int | None) -> None:
        """One routed answer (fresh, not held out, not an explicit tier), below the top tier or not, routed
        under the loop's state ``version`` (None: not known, e.g. routed before this replica read the state)."""
        if version is not None and version != self._state.version:
            self._stale.routed += 1
            self._stale.below_top += int(below_top)
            return
        self._pending.routed += 1
        self._pending.below_top += int(below_top)

    async def record(self, outcome: AuditOutcome, version: int | None) -> Change | None:
        """Add a finished routed audit, of an answer routed under ``version``, and this replica's counts to the
        shared evidence; decide; the change made, if any. Evidence of an older version counts only in the
        overall estimate. Store failures are logged and counted; the loop keeps its shift."""
        if outcome.kind != "routed" or outcome.verdict is None:
            return None
        async with self._lock:
            evidence, self._pending = self._pending, LoopWindow()
            stale, self._stale = self._stale, LoopWindow()
            current = version is None or version == self._state.version
            (evidence if current else stale).audits.add(outcome.kind, outcome.verdict)
            overall_evidence = LoopWindow()
            overall_evidence.add(evidence)
            overall_evidence.add(stale)
            known = self._state.version
            try:
                window = await self.store.add(known, evidence)
                overall = await self.store.add(ALL, overall_evidence)
            except Exception as error:
                log.warning("quality loop: could not share evidence (%s); the audit counts only locally",
                            type(error).__name__)
                self.metrics.loop_errors.inc()
                return None
            self.metrics.publish_overall(overall.estimate())
            if not self.enabled:
                return None
            change = decide(window, self._state.shift, self.config.target, self.config.loop)
            if change is None:
                return None
            try:
                moved = await self.store.apply(known, change)
                self._shared.know(await self.store.state())
            except Exception as error:
                log.warning("quality loop: could not move the shift (%s)", type(error).__name__)
                self.metrics.loop_errors.inc()
                return None
            if not moved:
                return None  # another replica moved first, on the same evidence
            self.metrics.loop_changes.labels(change.direction).inc()
            log.warning("quality loop: %s, shift %.3f -> %.3f: %s", change.direction, change.old_shift,
                        change.new_shift, change.reason)
            return change
