"""Stamps each request with its tenant and routing hints, and reports the tier that served it in ``x-costroute-*``
headers. It also tells the router's feedback memory which response answered a routed request, and how long
the tier took (the ``max_latency_ms`` hint compares against that)."""

from __future__ import annotations

import uuid
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from costroute_plugins import __version__
from costroute_plugins.identity import tenant_of, tier_of
from costroute_plugins.proxy.request import (
    STATE_KEY,
    add_spend_log_fields,
    metadata_of,
    request_tags,
    served_group,
    state_of,
)
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.routing.hints import HintError, parse_hints


def _has_messages(data: dict[str, Any]) -> bool:
    messages = data.get("messages")
    return isinstance(messages, list) and any(isinstance(m, dict) and m.get("content") for m in messages)


def _is_auto_router(group: Any) -> bool:
    """Whether ``group`` is a LiteLLM auto-router entry (``model: auto_router/...``), like the shipped ``auto``."""
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    deployments = router.get_model_list(model_name=str(group)) if router is not None and group else None
    return bool(deployments) and all(
        str((d.get("litellm_params") or {}).get("model", "")).startswith("auto_router/") for d in deployments)


class RequestContextPlugin(CustomLogger):
    """Runs first: every other plugin reads the tenant it stores, and operators see which tier answered."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    # LiteLLM finds these hooks by looking at the leaf class's own __dict__: keep them defined here.
    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        metadata = metadata_of(data)
        metadata[STATE_KEY] = {}  # costroute's own record: whatever a client sent under this key is dropped
        try:
            hints = parse_hints(metadata)
        except HintError as error:  # the caller's mistake: say which key, never guess
            raise ProxyException(message=str(error), type="invalid_request_error", param=str(error).split(":")[0],
                                 code=400) from None
        try:
            tenant = tenant_of(metadata, self.runtime.config.tenant_from)
            state = state_of(data)
            if hints:
                state["hints"] = hints.to_json()
                add_spend_log_fields(data, route_hints=hints.to_json())
            model = data.get("model")
            if model not in self.runtime.config.tiers and not _has_messages(data) and _is_auto_router(model):
                # LiteLLM's complexity router skips a request with nothing to classify and then refuses it with
                # a confusing error; the default tier serves it as the plain group would.
                model = data["model"] = self.runtime.config.routing.default_tier
            if model in self.runtime.config.tiers:  # an explicit tier is served as requested, and recorded so
                state["routing"] = {"tier": model, "reason": "requested by the client", "mode": "explicit"}
                add_spend_log_fields(data, route_tier=model, route_reason="requested by the client",
                                     route_mode="explicit")
            state["tenant"] = tenant
            state["request_id"] = str(data.get("litellm_call_id") or uuid.uuid4().hex)
            # LiteLLM runs the post-call success hook for non-streamed answers only; feedback writes accordingly.
            state["stream"] = bool(data.get("stream"))
            add_spend_log_fields(data, tenant=tenant, version=__version__,
                                 **{name: value for name, value in request_tags(data).items()
                                    if name in ("feature", "experiment", "variant")})
        except Exception:  # never fail the request for bookkeeping
            log.exception("request context: could not read the tenant; continuing without it")
            self.runtime.metrics.plugin_degraded.labels("context", "tenant").inc()
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response: Any) -> None:
        """Before the answer leaves: make it rateable by its ``id`` with the tier that really answered."""
        feedback = self.runtime.feedback
        state = state_of(data)
        if feedback is None or not state.get("routing") or state["routing"].get("mode") == "explicit":
            return None
        try:
            model_id = (getattr(response, "_hidden_params", None) or {}).get("model_id")
            feedback.answered(str(state.get("request_id") or ""), getattr(response, "id", None),
                              served_group(model_id))
        except Exception as error:  # a rating may then find nothing; the answer itself is unaffected
            log.warning("router feedback: could not remember response (%s: %s)", type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("router", "feedback_remember").inc()
        return None

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj, start_time, end_time) -> None:
        """Observed latency per tier (cache hits excluded): what ``max_latency_ms`` hints are compared with."""
        try:
            payload = kwargs.get("standard_logging_object") or {}
            group = served_group(payload.get("model_id"))
            if group in self.runtime.config.tiers and not payload.get("cache_hit"):
                self.runtime.latency.observe(group, (end_time - start_time).total_seconds() * 1000.0)
        except Exception:
            log.debug("request context: no latency observation for this request", exc_info=True)

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
            if "score" in routing and routing.get("mode") != "shadow":  # shadow: nothing the client sees changes
                headers["x-costroute-router-score"] = f"{routing['score']:.4f}"
        except Exception:
            log.exception("request context: could not tell which tier answered")
            self.runtime.metrics.plugin_degraded.labels("context", "tier").inc()
        return headers
