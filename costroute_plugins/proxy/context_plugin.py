"""Stamps each request with its tenant and routing hints, and reports the tier that served it in ``x-costroute-*``
headers. It also tells the router's feedback memory which response answered a routed request, and how long
the tier took (the ``max_latency_ms`` hint compares against that)."""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from costroute_plugins import __version__
from costroute_plugins.identity import Identity, tenant_of, tier_of
from costroute_plugins.proxy.request import (
    RequestState,
    RoutingRecord,
    add_spend_log_fields,
    attach,
    authenticated_metadata,
    client_metadata,
    is_auto_router,
    request_tags,
    served_group,
    state_in,
)
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.routing.hints import HintError, parse_hints


def _has_messages(data: dict[str, Any]) -> bool:
    messages = data.get("messages")
    return isinstance(messages, list) and any(isinstance(m, dict) and m.get("content") for m in messages)


class RequestContextPlugin(CustomLogger):
    """Runs first: every other plugin reads the tenant it stores, and operators see which tier answered."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    # LiteLLM finds these hooks by looking at the leaf class's own __dict__: keep them defined here.
    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        try:
            hints = parse_hints(client_metadata(data))
        except HintError as error:  # the caller's mistake: say which key, never guess
            raise ProxyException(message=str(error), type="invalid_request_error", param=str(error).split(":")[0],
                                 code=400) from None
        try:
            state = self._state(user_api_key_dict, data, call_type, hints)
        except Exception:  # never fail the request for bookkeeping; without a state nothing tenant-scoped acts
            log.exception("request context: could not read the identity; costroute leaves this request alone")
            self.runtime.metrics.plugin_degraded.labels("context", "tenant").inc()
            return data
        attach(data, state)
        if hints:
            add_spend_log_fields(data, route_hints=hints.to_json())
        model = data.get("model")
        tiers = self.runtime.config.tiers
        if model not in tiers and not _has_messages(data) and is_auto_router(model):
            # LiteLLM's complexity router skips a request with nothing to classify and then refuses it with
            # a confusing error; the baseline tier serves it as the plain group would.
            model = data["model"] = self.runtime.config.routing.baseline_tier
        if model in tiers:  # an explicit tier is served as requested, and recorded so
            state.routing = RoutingRecord(tier=str(model), reason="requested by the client", mode="explicit")
            self.runtime.metrics.stages.took("route_explicit")
            add_spend_log_fields(data, route_tier=model, route_reason="requested by the client",
                                 route_mode="explicit")
        add_spend_log_fields(data, tenant=state.tenant, version=__version__, request_id=state.request_id,
                             **state.tags)
        return data

    def _state(self, user_api_key_dict, data: dict, call_type, hints) -> RequestState:
        """The request's state from what the proxy authenticated: the key LiteLLM verified, never a body field."""
        from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup

        fields = LiteLLMProxyRequestSetup.get_sanitized_user_information_from_key(user_api_key_dict)
        identity = Identity.from_litellm(fields, client_metadata(data))
        return RequestState(
            identity=identity,
            tenant=tenant_of(identity, self.runtime.config.tenant_from),
            route=str(call_type),
            # LiteLLM runs the post-call success hook for non-streamed answers only; feedback writes accordingly.
            stream=bool(data.get("stream")),
            call_id=str(data.get("litellm_call_id") or ""),
            tags=request_tags(data),
            hints=hints,
        )

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response: Any) -> None:
        """Before the answer leaves: make it rateable by its ``id`` with the tier that really answered."""
        feedback = self.runtime.feedback
        state = state_in(data)
        if feedback is None or state is None or state.routing is None or state.routing.mode == "explicit":
            return
        try:
            model_id = (getattr(response, "_hidden_params", None) or {}).get("model_id")
            feedback.answered(state.call_id or state.request_id, getattr(response, "id", None),
                              served_group(model_id))
        except Exception as error:  # a rating may then find nothing; the answer itself is unaffected
            log.warning("router feedback: could not remember response (%s: %s)", type(error).__name__, error)
            self.runtime.metrics.plugin_degraded.labels("router", "feedback_remember").inc()

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
            info = litellm_call_info or {}
            # /v1/messages answers are plain dicts: the deployment is only named in the call info's model_info.
            model_id = info.get("model_id") or (getattr(response, "_hidden_params", None) or {}).get("model_id") \
                or (info.get("model_info") or {}).get("id")
            routing_decision = authenticated_metadata(data).get("routing_decision")
            headers["x-costroute-tier"] = tier_of(served_group(model_id), routing_decision, self.runtime.config.tiers)
            state = state_in(data)
            if state is not None:  # the ledger's key for this request: what an operator looks a row up by
                headers["x-costroute-request-id"] = state.request_id
            routing = state.routing if state is not None else None
            # shadow: nothing the client sees changes
            if routing is not None and routing.score is not None and routing.mode != "shadow":
                headers["x-costroute-router-score"] = f"{routing.score:.4f}"
        except Exception:
            log.exception("request context: could not tell which tier answered")
            self.runtime.metrics.plugin_degraded.labels("context", "tier").inc()
        return headers
