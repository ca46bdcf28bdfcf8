"""The cache backend's single-flight (``cache/single_flight.py``) tied to LiteLLM's request lifecycle.

A leader's flight must end whatever happens to its request, or its followers wait for nothing until the deadline:
- its answer is stored, or refused by admission: ``async_set_cache`` ends it (``stored`` / ``not_stored``);
- its call failed: LiteLLM's failure events end it at once (``failed``), and the followers go upstream themselves;
- it succeeded but LiteLLM stores nothing (an answer without output): its success event ends it after a short grace,
  since LiteLLM writes the cache from a background task that may still be on its way when that event fires;
- anything else (a client gone mid-call): the flight's deadline, ``cache.single_flight_wait_s``.

Followers are counted in ``costroute_cache_single_flight_total{outcome}``; those served the leader's answer are
also ordinary cache hits. Off in shadow mode (``cache/shadow.py``): nothing is served from the cache there, so a
follower would only wait; every request goes upstream at once, as it does without the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costroute_plugins.cache.scope import CacheableRequest
from costroute_plugins.cache.single_flight import Ending, Follow, SingleFlight, flight_key
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.request import RequestState
from costroute_plugins.proxy.runtime import log

# After a leader's success event, how long a cache write still on its way may take before followers stop waiting:
# the write embeds (usually memoised by then) and stores one entry, milliseconds unless the host is saturated.
STORE_GRACE_S = 2.0


class CacheFlights:
    """Leads, follows and ends flights for the backend, and counts what followers got."""

    def __init__(self, wait_s: float, metrics: Metrics) -> None:
        self.flights = SingleFlight(wait_s) if wait_s > 0 else None
        self.metrics = metrics

    async def wait_or_lead(self, request: CacheableRequest, state: RequestState,
                           kwargs: Mapping[str, Any]) -> Ending | None:
        """Before a lookup: wait for an identical request in flight (returns how it ended), or become the leader of
        this prompt (returns None, as when single-flight is off or full). A request that asked ``no-store`` never
        leads: its answer will not be stored, so followers would wait for nothing."""
        if self.flights is None:
            return None
        controls = kwargs.get("cache")
        no_store = isinstance(controls, Mapping) and controls.get("no-store") is True
        try:
            role = self.flights.join(flight_key(request), state.request_id, may_lead=not no_store)
        except Exception as error:  # the request goes on without single-flight
            self._degraded("join", error)
            return None
        if role is None and not no_store:
            self.metrics.cache_single_flight.labels("full").inc()
        if not isinstance(role, Follow):
            return None
        return await role.wait()

    def followed(self, waited: Ending | None, hit: bool) -> None:
        """Count a follower by what it got: ``shared`` when the leader's stored answer served it."""
        if waited is None:
            return
        if waited is Ending.STORED:
            outcome = "shared" if hit else "missed"
        elif waited is Ending.HIT:
            outcome = "leader_hit"
        else:
            outcome = waited.value
        self.metrics.cache_single_flight.labels(outcome).inc()

    def end(self, state: RequestState, ending: Ending, request: CacheableRequest | None = None) -> None:
        """The request's flight of ``request`` (every flight it leads when None) ended."""
        if self.flights is None:
            return
        try:
            self.flights.end(state.request_id, ending, flight_key(request) if request is not None else None)
        except Exception as error:  # its followers stop waiting at the deadline instead
            self._degraded("end", error)

    def answered(self, state: RequestState) -> None:
        """The request succeeded: a store on its way ends its flight; otherwise it ends after the grace."""
        if self.flights is None:
            return
        try:
            self.flights.end_later(state.request_id, Ending.NOT_STORED, STORE_GRACE_S)
        except Exception as error:
            self._degraded("end", error)

    def _degraded(self, step: str, error: Exception) -> None:
        log.warning("semantic cache: single-flight %s failed (%s: %s)", step, type(error).__name__, error)
        self.metrics.plugin_degraded.labels("cache", f"single_flight_{step}").inc()

