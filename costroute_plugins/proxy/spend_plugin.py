"""Spend attribution when a request finishes: its real cost, what cache and router saved, who pays.

One success event arrives per answered request (after any fallback, and for cache hits too), and the
proxy-level failure hook once per request that failed for good: that is where budget reservations settle.
Each finished request becomes a ledger row (PostgreSQL, spooled to disk while it is down; or a local JSON-lines
file, ``spend.ledger.file``), Prometheus series and, through the request's ``spend_logs_metadata``, fields in LiteLLM's own spend log.
What a request cost, saved and who pays is decided in ``spend/attribution.py``; this adapter reads LiteLLM's
payload and the request state for it, then settles, counts, records and alerts.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from datetime import UTC, datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.proxy.request import (
    RequestState,
    add_spend_log_fields,
    audit_in,
    routing_decision_of,
    served_group,
    state_in,
)
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.spend.attribution import Attribution, FinishedCall, Payer, attribute
from costroute_plugins.spend.webhook import post_event


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
        runtime = self.runtime
        audit = audit_in(kwargs)
        attribution = attribute(finished_call(kwargs), payer_of(state), audit.tenant if audit is not None else None,
                                runtime.prices, runtime.config.tiers)
        if not attribution.audit:  # what the audits' share-of-savings cap is measured against
            runtime.savings_today.add(attribution.saving_usd)
            if state is not None:  # a client's request: an audit's own calls carry no costroute fields
                _savings_to_spend_log(kwargs, attribution)

        budget = state.take_reservation() if state is not None else None
        if budget is not None:
            problem = await runtime.guard.settle(budget, attribution.cost_usd)
            if problem:
                log.warning("budget: could not settle a reservation (%s); it lapses on its own", problem)
                runtime.metrics.plugin_degraded.labels("budget", "settle").inc()

        record, cost, tenant = attribution.record, attribution.cost_usd, attribution.record.tenant
        metrics = runtime.metrics
        metrics.requests.labels(record.tier, record.decision).inc()
        metrics.spend_usd.labels(tenant, record.tier).inc(cost)
        metrics.savings_usd.labels("cache").inc(attribution.cache_saving_usd)
        metrics.savings_usd.labels("routing").inc(attribution.routing_saving_usd)
        if record.feature:
            runtime.spend_metrics.feature_spend_usd.labels(record.feature, tenant).inc(cost)

        ledger = await self._ledger()
        if ledger is not None:
            with metrics.stages.timed("ledger_write"):  # a file append, or a queue put (PostgreSQL: in batches)
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


def _savings_to_spend_log(kwargs: dict[str, Any], attribution: Attribution) -> None:
    """The savings reach LiteLLM's SpendLogs row: its DB logger, added after the configured callbacks, reads the
    call's metadata once this success event is done, so they land beside the fields set before the call."""
    params = kwargs.get("litellm_params")
    if isinstance(params, dict):
        add_spend_log_fields(params, cache_saving_usd=attribution.cache_saving_usd,
                             routing_saving_usd=attribution.routing_saving_usd)


def finished_call(kwargs: dict[str, Any]) -> FinishedCall:
    """LiteLLM's report of a finished call (its spend-log payload), every value as it reported it."""
    payload = kwargs.get("standard_logging_object") or {}
    usage = payload.get("metadata", {}).get("usage_object") or {}
    return FinishedCall(
        model=str(payload.get("model") or ""),
        deployment=payload.get("model_id"),
        group=served_group(payload.get("model_id")),
        prompt_tokens=payload.get("prompt_tokens"),
        completion_tokens=payload.get("completion_tokens"),
        cached_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
        cache_hit=bool(payload.get("cache_hit")),
        response_cost=payload.get("response_cost"),
        saved_cache_cost=payload.get("saved_cache_cost"),
        autorouter_savings=payload.get("autorouter_savings"),
        routing_decision=routing_decision_of(kwargs),
    )


def payer_of(state: RequestState | None) -> Payer | None:
    """Who the request state says pays; None when the context plugin did not see the request."""
    if state is None:
        return None
    return Payer(request_id=state.request_id, tenant=state.tenant, identity=state.identity, tags=state.tags,
                 budget_state=state.budget.label if state.budget is not None else None)


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
