"""Attributes each finished request's cost to its tenant and tier in Prometheus."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins.identity import tier_of
from costroute_plugins.proxy.request import served_group
from costroute_plugins.proxy.runtime import Runtime, log


class SpendPlugin(CustomLogger):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj, start_time, end_time) -> None:
        try:
            payload = kwargs.get("standard_logging_object") or {}
            metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
            state = metadata.get("costroute") or {}
            group = served_group(payload.get("model_id"))
            tier = tier_of(group, metadata.get("routing_decision"), self.runtime.config.tiers)
            decision = (metadata.get("routing_decision") or {}).get("cause") or "requested"
            metrics = self.runtime.metrics
            metrics.requests.labels(tier, decision).inc()
            metrics.spend_usd.labels(state.get("tenant", "anonymous"), tier).inc(float(payload.get("response_cost") or 0))
            if payload.get("cache_hit"):
                metrics.savings_usd.labels("cache").inc(float(payload.get("saved_cache_cost") or 0))
            routing_saving = float(payload.get("autorouter_savings") or 0)
            if routing_saving > 0:
                metrics.savings_usd.labels("routing").inc(routing_saving)
        except Exception:  # a metrics failure must never surface to the caller
            log.exception("spend: could not attribute a finished request")
            self.runtime.metrics.plugin_degraded.labels("spend", "attribution").inc()
