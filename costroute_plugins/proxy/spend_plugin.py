"""Spend attribution when a request finishes: its real cost, what cache and router saved, who pays.

One success event arrives per answered request (after any fallback, and for cache hits too), and the
proxy-level failure hook once per request that failed for good: that is where budget reservations settle.
Each finished request becomes a ledger row (PostgreSQL, spooled to disk while it is down; or a local JSON-lines
file, ``spend.ledger.file``), Prometheus series and, through the request's ``spend_logs_metadata``, fields in LiteLLM's own spend log.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.identity import Identity, tier_of
from costroute_plugins.proxy.request import (
    AUDIT_DECISION,
    RequestState,
    audit_in,
    routing_decision_of,
    served_group,
    state_in,
)
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.spend.record import AttributionRecord, money, token_count
from costroute_plugins.spend.webhook import post_event

#: The tenant of a finished request costroute has no state for (the context plugin did not see it).
UNATTRIBUTED = "unattributed"


class SpendPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self._ledger_started = False
        self._starting: asyncio.Task | None = None
        try:  # the proxy loads its config inside its event loop: start now, so a spool left by the last run is
            # replayed without waiting for traffic
            self._starting = asyncio.get_running_loop().create_task(self._ledger())
        except RuntimeError:  # no loop yet (imported outside the proxy): start on first use
            pass

    async def _ledger(self):
        """Start the ledger's writer inside the proxy's event loop (at load, else on first use)."""
        ledger = self.runtime.ledger
        if ledger is not None and not self._ledger_started:
            self._ledger_started = True
            await ledger.start()
            _spool_on_stop_signals(ledger, asyncio.get_running_loop())
        return ledger

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj, start_time, end_time) -> None:
        try:
            await self._attribute(kwargs, state_in(kwargs))
        except Exception:  # attribution must never surface to the caller
            log.exception("spend: could not attribute a finished request")
            self.runtime.metrics.plugin_degraded.labels("spend", "attribution").inc()

    async def _attribute(self, kwargs: dict[str, Any], state: RequestState | None) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        runtime = self.runtime
        group = served_group(payload.get("model_id"))
        routing_decision = routing_decision_of(kwargs)
        tier = tier_of(group, routing_decision, runtime.config.tiers)
        usage = payload.get("metadata", {}).get("usage_object") or {}
        # Whatever the upstream reported (negative, fractional, text): priced as corrected, stored flagged.
        reported_tokens: tuple[Any, Any, Any] = (
            payload.get("prompt_tokens"), payload.get("completion_tokens"),
            (usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
        prompt_tokens, completion_tokens, cached_tokens = map(token_count, reported_tokens)
        cache_hit = bool(payload.get("cache_hit"))
        reported = float(payload.get("response_cost") or 0.0)
        if cache_hit:
            cost = 0.0
        else:
            cost = runtime.prices.cost((str(payload.get("model") or ""), group), prompt_tokens, completion_tokens,
                                       cached_tokens, reported)
        cache_saving = float(payload.get("saved_cache_cost") or 0.0) if cache_hit else 0.0
        routing_saving = runtime.prices.routing_saving(payload.get("autorouter_savings"), reported, cost)
        # A request the context plugin did not see has no identity the proxy vouched for: billed as such, and
        # keyed by an id generated here (never LiteLLM's call id, which the client may choose).
        tenant = state.tenant if state is not None else UNATTRIBUTED
        identity = state.identity if state is not None else Identity()
        tags = state.tags if state is not None else {}
        decision = "cache_hit" if cache_hit else routing_decision.get("cause") or "requested"
        audit = audit_in(kwargs)
        if audit is not None:  # costroute's own call (a quality audit): its spend, saving nothing, own category
            tenant, decision, cache_saving, routing_saving = audit.tenant, AUDIT_DECISION, 0.0, 0.0
        else:  # what the audits' share-of-savings cap is measured against
            runtime.savings_today.add(cache_saving + routing_saving)

        budget = state.take_reservation() if state is not None else None
        if budget is not None:
            problem = await runtime.guard.settle(budget, cost)
            if problem:
                log.warning("budget: could not settle a reservation (%s); it lapses on its own", problem)
                runtime.metrics.plugin_degraded.labels("budget", "settle").inc()

        metrics = runtime.metrics
        metrics.requests.labels(tier, decision).inc()
        metrics.spend_usd.labels(tenant, tier).inc(cost)
        metrics.savings_usd.labels("cache").inc(cache_saving)
        metrics.savings_usd.labels("routing").inc(routing_saving)
        if tags.get("feature"):
            runtime.spend_metrics.feature_spend_usd.labels(tags["feature"], tenant).inc(cost)

        record = AttributionRecord(
            request_id=state.request_id if state is not None else uuid.uuid4().hex,
            tenant=tenant,
            cost_usd=money(cost),
            team=identity.team,
            key=identity.key,
            end_user=identity.end_user,
            feature=tags.get("feature"),
            experiment=tags.get("experiment"),
            variant=tags.get("variant"),
            tier=tier,
            model=str(payload.get("model") or ""),
            deployment=payload.get("model_id"),
            prompt_tokens=reported_tokens[0],
            completion_tokens=reported_tokens[1],
            cached_tokens=reported_tokens[2],
            cache_hit=cache_hit,
            cache_saving_usd=money(cache_saving),
            routing_saving_usd=money(routing_saving),
            decision=decision,
            budget_state=state.budget.label if state is not None and state.budget is not None else None,
        )
        ledger = await self._ledger()
        if ledger is not None:
            ledger.submit(record)
        event = runtime.anomalies.observe(tenant, cost, datetime.now(UTC))
        if event is not None:
            log.warning("spend anomaly: %s", event.message)
            runtime.spend_metrics.anomalies.labels(tenant).inc()
            anomaly = runtime.config.spend.anomaly
            if anomaly.webhook_url:
                asyncio.get_running_loop().create_task(
                    post_event(str(anomaly.webhook_url), event, anomaly.webhook_timeout_s)
                )

    async def async_post_call_failure_hook(self, request_data: dict, original_exception, user_api_key_dict,
                                           traceback_str=None) -> None:
        """The request failed for good (after fallbacks): release its reservation."""
        state = state_in(request_data)
        budget = state.take_reservation() if state is not None else None
        if budget is not None:
            await self.runtime.guard.settle(budget, 0.0)


def _spool_on_stop_signals(ledger, loop: asyncio.AbstractEventLoop) -> None:
    """When the proxy is told to stop, ledger rows go to the on-disk spool from then on.

    LiteLLM gives callbacks no shutdown hook, and uvicorn ends the process by re-raising SIGTERM once it has shut
    down, so no code of ours runs after its last request. Its handler is chained instead: on SIGTERM / SIGINT the
    ledger spools what it holds in memory (on the event loop, never inside the signal handler) and every later
    row, then uvicorn's own graceful shutdown proceeds as before. Only a handler that is already Python code is
    chained; signals can only be handled on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for stop in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(stop)
        if not callable(previous):
            continue

        def chained(signum, frame, previous=previous) -> None:
            loop.call_soon_threadsafe(ledger.drain_to_spool)
            previous(signum, frame)

        signal.signal(stop, chained)
