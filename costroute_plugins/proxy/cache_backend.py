"""costroute's semantic cache as LiteLLM's cache backend, so hits are real LiteLLM cache hits.

LiteLLM then does the rest: ``cache_hit`` and ``saved_cache_cost`` in the spend-log payload, its cache
Prometheus metrics, replaying a hit as a stream for ``stream: true``, and the per-request
``cache: {no-cache, no-store, ttl}`` controls. Lookup runs after routing, inside ``litellm.acompletion``.

Failures never reach the caller: when the store (Redis) fails, the request bypasses the cache, the failure is
logged once and counted in ``costroute_plugin_degraded_total{plugin="cache"}``, and the index is rebuilt from
the store as soon as it answers again.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import numpy as np
from litellm.caching.base_cache import BaseCache
from litellm.caching.caching import Cache

from costroute_plugins.cache import MemoryStore, NotCacheable, SemanticCache
from costroute_plugins.cache.scope import CacheableRequest
from costroute_plugins.cache.semantic_cache import SKIPPED_BEYOND_WINDOW, Hit, Lookup
from costroute_plugins.cache.shadow import ShadowLookups, shadow_outcome
from costroute_plugins.cache.single_flight import Ending
from costroute_plugins.proxy.cache_flights import CacheFlights
from costroute_plugins.proxy.request import CacheOutcome, RequestState, model_group, state_in
from costroute_plugins.proxy.runtime import Runtime, log, prompt_embedding

RETRY_AFTER_FAILURE_S = 2.0


class _NotEmbeddedYet(Exception):
    """A lookup needs the prompt's embedding and nobody has computed it yet."""


class _EmbeddingFailed(Exception):
    """The model could not embed this prompt: a problem of this request, not of the cache store."""


def _nested_responses_call(kwargs: dict[str, Any]) -> bool:
    """LiteLLM serves ``/v1/messages`` on an ``openai/`` model through the Responses API and consults the cache
    again for that inner call, under the outer call type but with Responses ``input`` instead of ``messages``."""
    call_type = getattr(kwargs.get("litellm_logging_obj"), "call_type", None)
    call_type = getattr(call_type, "value", call_type)
    return call_type in ("anthropic_messages", "aanthropic_messages") and kwargs.get("messages") is None \
        and kwargs.get("input") is not None


class SemanticLiteLLMCache(Cache):
    """LiteLLM's ``Cache`` keyed like its semantic caches: the prompt leaves the key, the caller's scope stays."""

    def _is_semantic_cache(self) -> bool:
        return True


class CostrouteCacheBackend(BaseCache):
    """Adapts ``SemanticCache`` (sync, thread-safe) to LiteLLM's async cache-backend interface. With ``shadow``
    (``cache.mode: shadow``, ``cache/shadow.py``) a hit is counted there and not served."""

    def __init__(self, runtime: Runtime, cache: SemanticCache, shadow: ShadowLookups | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.cache = cache
        self.shadow = shadow
        # When set, the FAISS index may be out of step with the store: rebuild before serving again.
        self._stale_since: float | None = float("-inf")
        self._outage = False
        # Off in shadow: a follower would be served nothing but would still wait, so every request goes upstream
        # at once, as it does without the cache.
        wait_s = runtime.config.cache.single_flight_wait_s if shadow is None else 0.0
        self.flights = CacheFlights(wait_s, runtime.metrics)

    # -- what LiteLLM calls --------------------------------------------------------------------------------------
    async def async_get_cache(self, key: str, **kwargs: Any) -> dict[str, Any] | None:
        state = state_in(kwargs)
        request = self._cacheable(kwargs, state)
        if request is None or state is None or not self._available(state):  # no state: no request either
            return None
        # An identical request already upstream: wait for its answer to be stored, then look up (cache_flights.py).
        waited = await self.flights.wait_or_lead(request, state, kwargs)
        answer = await self._answer(request, state)
        self.flights.followed(waited, answer is not None)
        if state.cache is None or state.cache.status != "miss":  # a leader that does not go upstream: flight over
            self.flights.end(state, Ending.HIT if answer is not None else Ending.FAILED, request)
        return answer

    async def _answer(self, request: CacheableRequest, state: RequestState) -> dict[str, Any] | None:
        """The lookup: the cached answer as LiteLLM stores it, or None on a miss or a bypass (``state.cache``).
        Timed as stages ``cache_lookup`` and ``cache_verify``, the outcome counted as its decision path."""
        stages = self.runtime.metrics.stages
        try:
            with stages.timed("cache_lookup"):
                found = await self._lookup(request, state.tenant)
        except _EmbeddingFailed as failed:  # this prompt only: the cache stays on for every other request
            log.warning("semantic cache: embedding failed, request bypasses the cache (%s)", failed)
            self.runtime.metrics.plugin_degraded.labels("cache", "embed").inc()
            self._bypass(state, "embedding failed", "embedding")
            return None
        except Exception as error:
            self._failed("lookup", error, state)
            self.runtime.metrics.cache_lookups.labels("bypass").inc()
            stages.took("cache_bypass")
            return None
        if found.verify_s is not None:
            stages.observe("cache_verify", found.verify_s)
        metrics = self.runtime.metrics
        if found.skipped == SKIPPED_BEYOND_WINDOW:  # exact matches only: the embedder cannot see the whole prompt
            metrics.cache_bypasses.labels("beyond_window").inc()
        if found.hit is None:
            state.cache = CacheOutcome("miss", reason=found.skipped)
            metrics.cache_lookups.labels("miss").inc()
            stages.took("cache_miss")
            if self.shadow is not None:
                self.shadow.count("miss")
            # The answer is stored right after it is sent and the caller may repeat the prompt at once: embed
            # now (storing needs the embedding anyway) so the entry is in place before a repeat can arrive.
            try:
                await prompt_embedding(self.runtime, state.tenant, request.text)
            except Exception as error:  # the store will try again; a lookup that missed stays a miss
                log.warning("semantic cache: embedding a missed prompt failed (%s: %s)", type(error).__name__, error)
            return None
        hit = found.hit
        if self.shadow is not None:
            self._shadow_hit(hit, state, self.shadow)
            return None  # LiteLLM calls upstream: the client gets what it gets without the cache
        state.cache = CacheOutcome("hit", similarity=round(hit.similarity, 4), kind=hit.kind)
        metrics.cache_lookups.labels("hit").inc()
        stages.took("cache_exact_hit" if hit.kind == "exact" else "cache_semantic_hit")
        return {"timestamp": time.time(), "response": json.dumps(hit.response)}

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        state = state_in(kwargs)
        request = self._cacheable(kwargs, state, count=False)
        if request is None or state is None:
            return
        stored = False
        try:
            with self.runtime.metrics.stages.timed("cache_store"):
                stored = await self._store(request, state, value, kwargs)
        finally:  # stored or not, whoever waits for this answer stops waiting
            self.flights.end(state, Ending.STORED if stored else Ending.NOT_STORED, request)

    async def _store(self, request: CacheableRequest, state: RequestState, value: Any, kwargs: dict[str, Any]) -> bool:
        """Store the answer LiteLLM hands over; False when it was not stored (refused, or a failure, counted)."""
        if not self._available(state, count=False):
            return False
        if state.cache is not None and state.cache.status == "shadow_hit":
            return False  # a live cache would have served this request, not stored its answer again
        response: Any = value.get("response") if isinstance(value, dict) else value
        try:
            body = json.loads(response) if isinstance(response, str) else response
            vector = await prompt_embedding(self.runtime, state.tenant, request.text)
        except Exception as error:  # this request's answer is not stored; the cache stays on for everyone else
            log.warning("semantic cache: answer not stored (%s: %s)", type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("cache", "embed").inc()
            return False
        try:
            stored = await asyncio.to_thread(
                self.cache.insert, request.scope, request.text, body, vector, kwargs.get("ttl")
            )
        except Exception as error:
            self._failed("store", error, state)
            return False
        if state.cache is None:
            state.cache = CacheOutcome("miss")
        state.cache.stored = stored
        return stored

    async def async_set_cache_pipeline(self, cache_list: list[tuple[str, Any]], **kwargs: Any) -> None:
        for key, value in cache_list:
            await self.async_set_cache(key, value, **kwargs)

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        """The proxy only uses the async path; sync callers (SDK use) simply do not store."""

    def get_cache(self, key: str, **kwargs: Any) -> None:
        return None

    async def disconnect(self) -> None:
        """Called at proxy shutdown: an in-process store with a snapshot path is saved so a restart keeps it."""
        path = self.runtime.config.cache.snapshot_path
        if path and isinstance(self.cache.store, MemoryStore):
            try:
                await asyncio.to_thread(self.cache.store.save, path)
                log.info("semantic cache: %d entries saved to %s", len(self.cache.store), path)
            except OSError as error:
                log.warning("semantic cache: could not save snapshot to %s (%s)", path, error)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _cacheable(self, kwargs: dict[str, Any], state: RequestState | None,
                   count: bool = True) -> CacheableRequest | None:
        """The request's cache scope and text, or None (a bypass, with its reason) when it may not be cached.

        A request without costroute's state has no tenant the proxy vouched for, so it is never looked up or
        stored: no entry is reachable without an identity from the key."""
        if state is None:
            if count:
                self.runtime.metrics.plugin_degraded.labels("cache", "no_state").inc()
                self.runtime.metrics.cache_lookups.labels("bypass").inc()
                self.runtime.metrics.cache_bypasses.labels("no_state").inc()
                self.runtime.metrics.stages.took("cache_bypass")
            return None
        if _nested_responses_call(kwargs):
            return None  # the outer /v1/messages call is the one cached; its outcome stays what it was
        try:
            return self.cache.scope_for(
                kwargs.get("messages"),
                tenant=state.tenant,
                model=model_group(kwargs) or str(kwargs.get("model") or ""),
                params=kwargs,
            )
        except NotCacheable as why:
            self._bypass(state, str(why), why.kind, count)
            return None

    def _shadow_hit(self, hit: Hit, state: RequestState, shadow: ShadowLookups) -> None:
        """Shadow mode found a hit: recorded for the headers and the quality audit, counted, not served (the
        served-lookup series counts the miss the client got)."""
        state.cache = CacheOutcome("shadow_hit", similarity=round(hit.similarity, 4), kind=hit.kind,
                                   shadow_response=hit.response)
        shadow.count(shadow_outcome(hit.kind))
        self.runtime.metrics.cache_lookups.labels("miss").inc()
        self.runtime.metrics.stages.took("cache_shadow_hit")

    def _bypass(self, state: RequestState, reason: str, kind: str, count: bool = True) -> None:
        """Record why the cache left this request alone (the header shows it) and count it by kind."""
        state.cache = CacheOutcome("bypass", reason=reason)
        if count:
            self.runtime.metrics.cache_lookups.labels("bypass").inc()
            self.runtime.metrics.cache_bypasses.labels(kind).inc()
            self.runtime.metrics.stages.took("cache_bypass")

    async def _lookup(self, request: CacheableRequest, tenant: str) -> Lookup:
        """The cache's lookup on a worker thread. The embedding is needed only if the exact tier misses; when the
        router has not computed it yet, the thread is given back and the embedding awaited on the event loop, so
        no worker thread sits waiting for the model (the router's decisions run on those threads too), and the
        lookup goes on from the vector search. An embedding the router already computed is handed over as is,
        so the exact tier and the search's candidates are read in one round trip."""
        memo = self.runtime.embeddings

        def not_embedded_yet() -> np.ndarray:
            raise _NotEmbeddedYet

        loop = self.runtime.cache_loop
        floor = loop.similarity_floor(self.cache.config.similarity_threshold) if loop is not None else None
        known = memo.known(tenant, request.text)
        try:
            return await asyncio.to_thread(self._find, request, tenant, not_embedded_yet if known is None else known,
                                           floor)
        except _NotEmbeddedYet:
            try:
                vector = await prompt_embedding(self.runtime, tenant, request.text)
            except Exception as error:
                raise _EmbeddingFailed(f"{type(error).__name__}: {error}") from error
            return await asyncio.to_thread(self._find, request, tenant, vector, floor, exact_checked=True)

    def _find(self, request: CacheableRequest, tenant: str, vector: Any, floor: float | None,
              exact_checked: bool = False) -> Lookup:
        """The lookup, counted per tenant for the operator's hit rate (``GET /costroute/cache``; the store writes
        the count with its next round trip); a count that fails is logged and counted as degraded, never the
        request's failure."""
        found = self.cache.find(request.scope, request.text, vector, floor, exact_checked=exact_checked)
        try:
            self.cache.store.count_lookup(tenant, found.hit is not None and self.shadow is None)  # hits served
        except Exception as error:
            log.warning("semantic cache: lookup not counted for the hit rate (%s: %s)", type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("cache", "count").inc()
        return found

    def _available(self, state: RequestState, count: bool = True) -> bool:
        """After a failure, bypass for a moment, then rebuild the index from the store before using it again."""
        if self._stale_since is None:
            return True
        if time.monotonic() - self._stale_since < RETRY_AFTER_FAILURE_S or not self.rebuild():
            self._bypass(state, "cache store unavailable", "store", count)
            return False
        return True

    def rebuild(self) -> bool:
        """Rebuild every scope's index from the store's live entries; False (and bypass) while it fails."""
        try:
            entries = self.cache.rebuild()
        except Exception as error:
            self._failed("rebuild", error)
            return False
        if self._outage:
            log.warning("semantic cache: store answers again; caching resumed")
        log.info("semantic cache: index built from the store with %d entries", entries)
        self._stale_since, self._outage = None, False
        self.runtime.metrics.plugin_up.labels("cache").set(1)
        return True

    def _failed(self, operation: str, error: Exception, state: RequestState | None = None) -> None:
        if not self._outage:
            log.warning("semantic cache: %s failed (%s: %s); requests bypass the cache until the store answers",
                        operation, type(error).__name__, error)
        self._outage = True
        self._stale_since = time.monotonic()
        self.runtime.metrics.plugin_degraded.labels("cache", operation).inc()
        self.runtime.metrics.plugin_up.labels("cache").set(0)
        if state is not None:
            state.cache = CacheOutcome("bypass", reason=f"cache {operation} failed")
