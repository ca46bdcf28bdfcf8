"""The cache's side of the quality loop: raise the semantic cache's similarity threshold while audited hits
answer other questions more often than ``loop.wrong_hit_target`` allows (``controller.decide_cache``).

Shared like the routing loop (its own keys in the same store kind): every replica serves hits with the same
threshold, pools the audits of its semantic hits, and keeps the raise across restarts. The cache backend asks
``similarity_floor`` on every lookup, from memory. Cache hits are not tagged with the state version: an audit
still running when the threshold moves counts towards the next window, which at worst delays a loosening.
"""

from __future__ import annotations

import asyncio
import logging

from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.controller import Change, LoopWindow, decide_cache
from costroute_plugins.quality.loop_store import LoopState, LoopStore
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.shared_state import SharedState

log = logging.getLogger("costroute")


class CacheLoop:
    def __init__(self, config: QualityConfig, store: LoopStore, metrics: QualityMetrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self._shared = SharedState(store, config.loop.refresh_s, self._changed, metrics.loop_errors.inc)
        self._lock = asyncio.Lock()

    def _changed(self, old: LoopState, new: LoopState) -> None:
        self.metrics.cache_raise.set(new.shift)

    def similarity_floor(self, configured: float) -> float:
        """The similarity a semantic hit needs now: the configured threshold, raised by the loop."""
        if not self.config.loop.enabled:
            return configured
        return min(configured + self._shared.current().shift, 1.0)

    async def record(self, outcome: AuditOutcome) -> Change | None:
        """Add a finished cache audit to the shared evidence; decide; the change made, if any."""
        if outcome.kind != "cache" or outcome.verdict is None or not self.config.loop.enabled:
            return None
        async with self._lock:
            evidence = LoopWindow(routed=1)
            evidence.audits.add(outcome.kind, outcome.verdict)
            known = self._shared.state
            try:
                window = await self.store.add(known.version, evidence)
                change = decide_cache(window, known.shift, self.config.loop)
                if change is None or not await self.store.apply(known.version, change):
                    return None
                self._shared.know(await self.store.state())
            except Exception as error:
                log.warning("quality loop (cache): could not use the shared state (%s)", type(error).__name__)
                self.metrics.loop_errors.inc()
                return None
            self.metrics.loop_changes.labels(f"cache_{change.direction}").inc()
            log.warning("quality loop (cache): %s, similarity threshold raised %.3f -> %.3f: %s", change.direction,
                        change.old_shift, change.new_shift, change.reason)
            return change
