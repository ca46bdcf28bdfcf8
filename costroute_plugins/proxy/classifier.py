"""The complexity router's custom classifier: LiteLLM asks it which tier serves a ``model: auto`` request.

It scores the request with costroute's router (``routing.router.Router``: logistic regression over text,
structure and the request's MiniLM embedding, which the semantic cache then reuses) under the precedence of
``routing.policy`` (budget downgrade, premium tenant, the router with its floors, then shadow or holdout).
This adapter gathers what the policy reads (the request's state, the embedding within LiteLLM's timeout, the
thumbs-down escalation, the registry's current router), records the resulting ``Route`` in the request state
and the spend log, and counts and logs. A router that cannot load or fails, and a request costroute has no
state for, get ``baseline_tier`` (what the client gets without costroute, by default the top tier), said in
logs and metrics: a failure never fails the request, and never serves it a cheaper tier.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from costroute_plugins.config import read_document
from costroute_plugins.deadline import within
from costroute_plugins.messages import last_user_text
from costroute_plugins.proxy.request import RequestState, RoutingRecord, state_in
from costroute_plugins.proxy.router_check import classifier_timeout_ms
from costroute_plugins.proxy.runtime import Runtime, log, prompt_embedding
from costroute_plugins.routing.feedback import FeedbackService
from costroute_plugins.routing.feedback_store import Served
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.routing.live_router import LiveRouter
from costroute_plugins.routing.policy import Route, decide, route_before_router, route_decided
from costroute_plugins.routing.registry import ArtifactRegistry
from costroute_plugins.routing.router import Decision, Router
from costroute_plugins.routing.shift import ScoreDistribution, shifted_thresholds
from costroute_plugins.stages import DecisionPath

#: Share of LiteLLM's classifier timeout the router waits for the prompt's embedding; the rest is for the decision.
EMBEDDING_WAIT_SHARE = 0.5
#: Share of LiteLLM's classifier timeout after which an unfinished decision gives way to ``baseline_tier``: a
#: saturated replica (scoring queued behind busy worker threads, a stalled feedback store) degrades on costroute's
#: terms, counted as ``route_degraded_late``, instead of LiteLLM cancelling it into its ``fallback_tier``. Both
#: timers run on the same event loop and count from the same moment (``classify``), and ours settles the decision
#: in the turn it comes due (``deadline.py``), so a stall spanning both deadlines still ends in ours.
DECISION_WAIT_SHARE = 0.7
#: A ``classify`` looked up this many of LiteLLM's timeouts before it is called was kept by its caller, not looked
#: up for the call (no stall of the loop lasts that long): the router's clock then starts when the call first runs.
KEPT_LOOKUP_TIMEOUTS = 10
#: The decision path of a router decision by how the policy applied it (``routing.policy``: ``Route.mode``).
ROUTED_PATHS: dict[str, DecisionPath] = {"enforce": "route_router", "holdout": "route_holdout",
                                         "shadow": "route_shadow"}


class RouterClassifierPlugin:
    """Implements LiteLLM's ``ClassifierPlugin`` protocol (``classify(context) -> tier | None``).

    LiteLLM records the returned tier as the routing decision (cause ``classifier_plugin``) and computes the
    routing saving against its premium baseline.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.live: LiveRouter | None = None
        self._polled_at = time.monotonic()
        self._polling: asyncio.Task | None = None
        # The quality loop moves thresholds by a share of the traffic this replica has scored (routing/shift.py).
        self.scores = ScoreDistribution()
        routing = runtime.config.routing
        self.tiers = list(runtime.config.tiers)
        runtime.latency = TierLatency(routing.tier_latency_ms)
        if routing.feedback.enabled and routing.mode != "off":
            runtime.feedback = FeedbackService.build(routing.feedback, self.tiers, runtime.config.redis_url)
        if routing.mode != "off":
            self._load()
        timeout_ms = classifier_timeout_ms(read_document(runtime.config_path) if runtime.config_path else {})
        self.timeout_s = timeout_ms / 1000
        self.embedding_wait_s = EMBEDDING_WAIT_SHARE * self.timeout_s
        self.decision_wait_s = DECISION_WAIT_SHARE * self.timeout_s

    @property
    def router(self) -> Router | None:
        """The router serving now: the configured artifact, or the registry's live version."""
        return self.live.router if self.live is not None else None

    def _load(self) -> None:
        settings = self.runtime.config.routing
        try:
            registry = ArtifactRegistry.open(settings.registry, self.runtime.config.redis_url) \
                if settings.registry else None
            opinions = self.runtime.second_opinions
            live = self.live = LiveRouter(settings, Router.from_settings(settings, opinions), registry, opinions)
        except Exception as error:  # bad or missing artifact: route everything to the default tier
            log.error("router: cannot load (%s: %s); every auto request goes to %s", type(error).__name__, error,
                      settings.baseline_tier)
            self.runtime.metrics.plugin_degraded.labels("router", "load").inc()
            self.runtime.metrics.plugin_up.labels("router").set(0)
            return
        self.runtime.metrics.plugin_up.labels("router").set(1)
        self._follow_registry()
        self.runtime.warm_embedder()
        log.info("router: %s classifier, tiers %s, mode %s, holdout %g, premium tenants %d", settings.classifier,
                 ", ".join(f"{t.name}>={v:.3f}" for t, v in zip(settings.tiers[1:], live.router.thresholds)),
                 settings.mode, settings.holdout_fraction, len(settings.premium_tenants))

    def _follow_registry(self) -> None:
        """Serve the registry's live version (and score its shadow) once it names one; a version that cannot be
        served is logged and counted, and the router in place keeps serving."""
        live = self.live
        if live is None or live.registry is None:  # no registry: nothing to follow
            return
        try:
            followed = live.poll()
        except Exception as error:
            log.error("router: registry %s: cannot follow (%s: %s); serving %s", live.registry.directory,
                      type(error).__name__, error, live.version or "the configured artifact")
            self.runtime.metrics.plugin_degraded.labels("router", "registry").inc()
            return
        if followed.live:
            log.warning("router: now serving registry version %s, thresholds %s", followed.live,
                        ", ".join(f"{v:.3f}" for v in live.router.thresholds))
        if followed.shadow or followed.shadow_cleared:
            log.warning("router: shadow candidate %s", followed.shadow or "cleared")

    def _maybe_poll(self) -> None:
        """Check the registry at most every ``registry_poll_s``, in a worker thread, off the request path."""
        settings = self.runtime.config.routing
        if self.live is None or self.live.registry is None or self._polling is not None or \
                time.monotonic() - self._polled_at < settings.registry_poll_s:
            return
        self._polled_at = time.monotonic()
        self._polling = asyncio.get_running_loop().create_task(asyncio.to_thread(self._follow_registry))
        self._polling.add_done_callback(lambda _task: setattr(self, "_polling", None))

    def __deepcopy__(self, memo: dict) -> RouterClassifierPlugin:
        # LiteLLM's Router deep-copies the model list, which holds this instance: share it, never clone it.
        return self

    @property
    def classify(self) -> Callable[[Any], Coroutine[Any, Any, str | None]]:
        """LiteLLM's ``classify(context)``, stamped with the moment LiteLLM looked it up.

        Why a property: LiteLLM looks ``classify`` up as it calls it, inside the ``asyncio.wait_for`` that starts
        its timeout, and requires a coroutine function (a ``partial`` of one passes its start-up check). The
        coroutine's first step runs only a turn of the loop later, ~100 ms at p99 on a saturated replica (``make
        bench``): a deadline counted from there let LiteLLM's timer win 0-1 decisions a run. Counted from the
        lookup, the router's give-up always comes due first."""
        return functools.partial(RouterClassifierPlugin._timed_classify, self, time.monotonic())

    async def _timed_classify(self, looked_up: float, context: Any) -> str | None:
        """The tier, timed as stage ``classification`` and counted by its decision path. A decision LiteLLM stops
        waiting for (``classifier_plugin_timeout_ms``) is cancelled in flight: counted as
        ``route_fallback_timeout``, since LiteLLM then serves its ``fallback_tier``."""
        now = time.monotonic()
        # A lookup this old was kept by its caller, not made for this call: count from now. A younger one past
        # LiteLLM's timeout is a stalled loop, and the decision gives way at once.
        started = looked_up if now - looked_up < KEPT_LOOKUP_TIMEOUTS * self.timeout_s else now
        stages = self.runtime.metrics.stages
        with stages.timed("classification"):
            try:
                return await self._classify(context, started)
            except asyncio.CancelledError:
                stages.took("route_fallback_timeout")
                raise

    async def _classify(self, context: Any, started: float) -> str:
        settings = self.runtime.config.routing
        metadata = getattr(context, "metadata", None) or {}
        state = state_in(metadata)
        if state is None:  # the context plugin did not see this request: nothing to decide on, serve the baseline
            self.runtime.metrics.plugin_degraded.labels("router", "no_state").inc()
            return self._baseline("route_fallback_no_state")
        # LiteLLM hands the classifier a shallow copy of the request metadata: nested dicts are the request's own.
        spend_log = metadata.get("spend_logs_metadata")
        if not isinstance(spend_log, dict):
            spend_log = {}
        route = route_before_router(settings, self.tiers, tenant=state.tenant, forced_tier=state.forced_tier)
        if route is not None:
            path: DecisionPath = "route_budget_downgrade" if state.forced_tier else "route_premium_tenant"
            return self._record(route, state, spend_log, path)
        live = self.live  # set once at start; a poll swaps its routers, never the LiveRouter itself
        if live is None:
            return self._baseline("route_off" if settings.mode == "off" else "route_fallback_unloaded")
        self._maybe_poll()
        messages = list(getattr(context, "structured_messages", None) or [])
        late = threading.Event()  # set when the decision is given up: its worker thread then records nothing
        try:
            decision, version = await within(self._decision(state, messages, spend_log, live, late),
                                             self.decision_wait_s - (time.monotonic() - started))
        except TimeoutError:
            late.set()
            log.warning("router: no decision within %.0f ms (the replica is saturated); serving %s",
                        self.decision_wait_s * 1000, settings.baseline_tier)
            self.runtime.metrics.plugin_degraded.labels("router", "late").inc()
            return self._baseline("route_degraded_late")
        except Exception as error:
            log.warning("router: decision failed (%s: %s); serving %s", type(error).__name__, error,
                        settings.baseline_tier)
            self.runtime.metrics.plugin_degraded.labels("router", "decide").inc()
            return self._baseline("route_fallback_error")
        route = route_decided(decision, settings, self.tiers, state.request_id)
        served = self._record(route, state, spend_log, ROUTED_PATHS.get(route.mode, "route_router"))
        if state.routing is not None:
            state.routing.loop_version = version
        return served

    async def _decision(self, state: RequestState, messages: list[dict[str, Any]], spend_log: dict[str, Any],
                        live: LiveRouter, late: threading.Event) -> tuple[Decision, int | None]:
        """The router's decision and the quality loop's version it was taken under; the shadow candidate's
        choice goes to the spend log beside it."""
        relaxation = state.budget.quality_relaxation if state.budget is not None else 0.0
        embedding = await self._embedding(state.tenant, last_user_text(messages), live.router)
        loop = self.runtime.quality_loop
        shift, version = loop.shift() if loop is not None else (0.0, None)
        router, shadow = live.router, live.shadow  # one router for the whole decision, even if a poll swaps it
        thresholds = shifted_thresholds(router.thresholds, shift, self.scores)
        decision = await asyncio.to_thread(self._decide, state, messages, embedding, relaxation, router,
                                           thresholds, late)
        self.scores.observe(decision.score)
        if thresholds != router.thresholds:  # the loop moved them (not before enough scores were seen)
            spend_log.update(costroute_route_shift=round(shift, 4))
        if shadow is not None:  # the candidate's choice, logged beside the live one and never served
            would = await asyncio.to_thread(shadow.decide, messages, embedding)
            spend_log.update(costroute_route_shadow=f"{live.shadow_version}:{would.tier}",
                             costroute_route_shadow_score=round(would.score, 4))
        return decision, version

    async def _embedding(self, tenant: str, text: str, router: Router):
        """The last user message's embedding, awaited on the event loop (no thread waits for the model), or None
        when neither the classifier nor feedback uses it.

        On a CPU-starved host the embedding can take longer than LiteLLM waits for a decision, and LiteLLM then
        serves its fallback tier for every such request. After ``embedding_wait_s`` the router decides on text
        and structure instead (the reason says so; no escalation check or rating for that answer), which keeps
        most of the classifier's judgement; the embedding still completes for the cache."""
        if not text or not (router.uses_embedding or self.runtime.feedback is not None):
            return None
        try:
            return await asyncio.wait_for(prompt_embedding(self.runtime, tenant, text), self.embedding_wait_s)
        except TimeoutError:
            self.runtime.metrics.plugin_degraded.labels("router", "embedding_late").inc()
            return None

    def _baseline(self, path: DecisionPath) -> str:
        """``baseline_tier`` (what the client gets without costroute), counted as ``path``."""
        self.runtime.metrics.stages.took(path)
        return str(self.runtime.config.routing.baseline_tier)

    def _record(self, route: Route, state: RequestState, spend_log: dict[str, Any], path: DecisionPath) -> str:
        """Record the route (state, spend log), count its decision path and return the tier to serve."""
        self.runtime.metrics.stages.took(path)
        state.routing = RoutingRecord(tier=route.tier, reason=route.reason, mode=route.mode, score=route.score)
        spend_log.update(route.spend_log_fields())
        if route.mode in ("shadow", "holdout"):
            log.info("router %s: would serve %s (%s); serving %s", route.mode, route.tier, route.reason, route.serve)
        return route.serve

    def _decide(self, state: RequestState, messages: list[dict[str, Any]], embedding, relaxation: float,
                router: Router, thresholds: list[float], late: threading.Event) -> Decision:
        """The policy's decision (in a worker thread: scoring and the feedback store's calls block); once ``late``
        is set the request is served the baseline, so the decision is not remembered for ratings."""
        feedback = self.runtime.feedback
        decision = decide(router, messages, embedding, settings=self.runtime.config.routing, tiers=self.tiers,
                          hints=state.hints, relaxation=relaxation, thresholds=thresholds,
                          escalation=self._escalation(feedback, state.tenant, embedding),
                          latency=self.runtime.latency)
        if feedback is not None and embedding is not None and not late.is_set():
            try:
                # A non-streamed answer passes the post-call hook, which stores both of its ids in one write.
                # Rated by the answer's id or its call id (the client's handle; ratings check the tenant).
                feedback.routed(state.call_id or state.request_id, Served(state.tenant, decision.tier, embedding),
                                answer_follows=not state.stream)
            except Exception as error:
                self._feedback_degraded("remember", error)
        return decision

    def _escalation(self, feedback: FeedbackService | None, tenant: str, embedding) -> tuple[str, float] | None:
        if feedback is None or embedding is None:
            return None
        try:
            return feedback.floor(tenant, embedding)
        except Exception as error:  # Redis down: route without escalations rather than fail the request
            self._feedback_degraded("escalations", error)
            return None

    def _feedback_degraded(self, what: str, error: Exception) -> None:
        log.warning("router feedback: %s unavailable (%s: %s); routing without it", what, type(error).__name__, error)
        self.runtime.metrics.plugin_degraded.labels("router", f"feedback_{what}").inc()
