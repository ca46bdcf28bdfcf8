"""LiteLLM side of the semantic cache: installs it as LiteLLM's cache and reports each request's outcome.

Response headers: ``x-costroute-cache: hit|miss|bypass``; on a hit ``x-costroute-cache-similarity``, on a bypass
``x-costroute-cache-reason`` (why the request was not looked up: parameters, size, a store outage, ...). In shadow
mode (``cache/shadow.py``) a would-be hit answers from upstream with ``x-costroute-cache: shadow-hit`` and its
similarity: the body is the fresh answer, as without the cache.
"""

from __future__ import annotations

import time
from typing import Any

import faiss
import litellm
from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.cache.factory import build_cache
from costroute_plugins.cache.follower import Follower
from costroute_plugins.cache.shadow import ShadowLookups
from costroute_plugins.cache.single_flight import Ending
from costroute_plugins.proxy.cache_backend import CostrouteCacheBackend, SemanticLiteLLMCache
from costroute_plugins.proxy.request import RequestState, state_in
from costroute_plugins.proxy.runtime import Runtime, log


class CachePlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.backend: CostrouteCacheBackend | None = None
        self.follower: Follower | None = None
        if runtime.config.cache.enabled:
            self._install()

    def _install(self) -> None:
        """Become LiteLLM's cache. A store that is down at start degrades to bypass until it answers."""
        started = time.monotonic()
        # One FAISS thread per search: the proxy serves requests concurrently, and OpenMP's thread pool
        # contending for the cores turned a 1 ms search into tens of milliseconds.
        faiss.omp_set_num_threads(1)
        self.runtime.warm_embedder()
        try:
            cache = build_cache(self.runtime.config.cache, self.runtime.config.redis_url,
                                self.runtime.embeddings.embedder)
        except ArtifactError as error:
            # Precision first: without its verifier the cache could serve wrong answers, so it stays off and
            # every request bypasses it; the proxy itself serves on.
            log.error("semantic cache OFF, every request bypasses it: %s. Fix: retrain with `costroute "
                      "train-verifier`, point costroute.cache.verifier_artifact at a valid artifact, or set "
                      "costroute.cache.learned_verifier: false", error)
            self.runtime.metrics.plugin_degraded.labels("cache", "artifact").inc()
            self.runtime.metrics.plugin_up.labels("cache").set(0)
            return
        config = self.runtime.config.cache
        shadow = ShadowLookups.create() if config.mode == "shadow" else None
        self.backend = CostrouteCacheBackend(self.runtime, cache, shadow)
        self.backend.rebuild()
        if cache.store.shared:  # other replicas write there: follow their changes off the request path
            metrics = self.runtime.metrics
            self.follower = Follower(cache, on_failure=lambda _error: metrics.plugin_degraded.labels("cache", "follow")
                                     .inc()).start()
        # "local", not LiteLLMCacheType.LOCAL: /cache/ping shows str(type), for the enum "LiteLLMCacheType.LOCAL".
        litellm.cache = SemanticLiteLLMCache(type="local",  # type: ignore[arg-type]
                                             _backend=self.backend, max_messages=None)
        log.info(
            "semantic cache %s (%s store, similarity >= %.2f, verifier %s) in %.1f s",
            "on" if shadow is None else "in shadow mode: hits are counted, every request goes upstream",
            "redis" if self.runtime.config.redis_url else "in-process",
            self.runtime.config.cache.similarity_threshold,
            "rules+learned" if self.runtime.config.cache.learned_verifier else "rules",
            time.monotonic() - started,
        )

    async def async_post_call_response_headers_hook(
        self, data: dict, user_api_key_dict, response: Any, request_headers=None, litellm_call_info=None
    ) -> dict[str, str]:
        if self.backend is None:  # off, or degraded at start
            return {"x-costroute-cache": "bypass"}
        state = state_in(data)
        outcome = state.cache if state is not None else None
        hidden = getattr(response, "_hidden_params", None) or {}
        if hidden.get("cache_hit"):
            headers = {"x-costroute-cache": "hit"}
            if outcome is not None and outcome.similarity is not None:
                headers["x-costroute-cache-similarity"] = f"{outcome.similarity:.4f}"
            return headers
        if outcome is not None and outcome.status == "shadow_hit":
            return {"x-costroute-cache": "shadow-hit", "x-costroute-cache-similarity": f"{outcome.similarity:.4f}"}
        # No outcome: LiteLLM did not consult the cache (e.g. `cache: {no-cache: true}`).
        status = outcome.status if outcome is not None else "bypass"
        headers = {"x-costroute-cache": "miss" if status == "hit" else status}
        if status == "bypass":
            reason = outcome.reason if outcome is not None and outcome.reason else "the cache was not consulted"
            headers["x-costroute-cache-reason"] = _header_text(reason)
        return headers

    # Single-flight (cache_flights.py): a leader's end, however its request ends, releases whoever waits for it.
    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """Answered: a cache write on its way ends the flight; if none comes, it ends after a short grace. In
        shadow mode a would-be hit's upstream cost is what a live cache would have saved."""
        state = state_in(kwargs)
        if self.backend is not None and state is not None:
            self.backend.flights.answered(state)
            shadow, outcome = self.backend.shadow, state.cache
            if shadow is not None and outcome is not None and outcome.status == "shadow_hit":
                payload = kwargs.get("standard_logging_object") or {}
                shadow.would_have_saved(float(payload.get("response_cost") or 0.0))

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        """A call failed (each attempt counts): followers go upstream themselves at once rather than wait."""
        self._leader_failed(state_in(kwargs))

    async def async_post_call_failure_hook(self, request_data: dict, original_exception: Exception,
                                           user_api_key_dict: Any, traceback_str: str | None = None) -> None:
        """The request failed for good, also where no call was made: the same release, in case the above missed."""
        self._leader_failed(state_in(request_data))

    def _leader_failed(self, state: RequestState | None) -> None:
        if self.backend is not None and state is not None:
            self.backend.flights.end(state, Ending.FAILED)


def _header_text(text: str, limit: int = 200) -> str:
    """A reason as a header value: printable ASCII on one line (a reason may quote a client's parameter)."""
    return "".join(char if " " <= char <= "~" else "?" for char in text)[:limit]
