"""Stamps each request with its tenant and reports the tier that served it in ``x-costroute-*`` headers."""

from __future__ import annotations

import uuid
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from costroute_plugins import __version__
from costroute_plugins.identity import tenant_of, tier_of
from costroute_plugins.proxy.request import add_spend_log_fields, metadata_of, request_tags, served_group, state_of
from costroute_plugins.proxy.runtime import Runtime, log


class RequestContextPlugin(CustomLogger):
    """Runs first: every other plugin reads the tenant it stores, and operators see which tier answered."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    # LiteLLM finds these hooks by looking at the leaf class's own __dict__: keep them defined here.
    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        try:
            tenant = tenant_of(metadata_of(data), self.runtime.config.tenant_from)
            state = state_of(data)
            state["tenant"] = tenant
            state["request_id"] = str(data.get("litellm_call_id") or uuid.uuid4().hex)
            add_spend_log_fields(data, tenant=tenant, version=__version__,
                                 **{name: value for name, value in request_tags(data).items()
                                    if name in ("feature", "experiment", "variant")})
        except Exception:  # never fail the request for bookkeeping
            log.exception("request context: could not read the tenant; continuing without it")
            self.runtime.metrics.plugin_degraded.labels("context", "tenant").inc()
        return data

    async def async_post_call_response_headers_hook(
        self, data: dict, user_api_key_dict, response: Any, request_headers=None, litellm_call_info=None
    ) -> dict[str, str]:
        headers = {"x-costroute-version": __version__}
        try:
            model_id = (litellm_call_info or {}).get("model_id") or (
                getattr(response, "_hidden_params", None) or {}
            ).get("model_id")
            routing_decision = metadata_of(data).get("routing_decision")
            headers["x-costroute-tier"] = tier_of(served_group(model_id), routing_decision, self.runtime.config.tiers)
            routing = state_of(data).get("routing") or {}
            if "score" in routing:
                headers["x-costroute-router-score"] = f"{routing['score']:.4f}"
        except Exception:
            log.exception("request context: could not tell which tier answered")
            self.runtime.metrics.plugin_degraded.labels("context", "tier").inc()
        return headers
