"""``POST /costroute/feedback``: a client rates an answer, mounted on the proxy's own FastAPI app.

Body ``{"response_id": "<the answer's id, or its x-litellm-call-id header>", "rating": "down"}``. It
authenticates exactly like the proxy's other routes (LiteLLM's ``user_api_key_auth``: master key, virtual keys,
custom auth), and the tenant is the authenticated one, so a key can only rate answers it received. A LiteLLM
virtual key that is not an admin needs the route in its ``allowed_routes`` (``/costroute/feedback``), as for
any route outside the OpenAI API. Answers: 200 with what happened, 400 for a malformed body, 404 for an
unknown or expired id, 503 while the feedback store (Redis) is unreachable.
"""

# No `from __future__ import annotations` here: FastAPI reads the handler's annotations at mount time, and
# they name classes imported inside ``mount_feedback_route``.
from typing import Annotated, Any

from costroute_plugins.identity import Identity, tenant_of
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.routing.feedback import FeedbackError, parse_rating

PATH = "/costroute/feedback"


def _error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": "costroute_feedback", "code": status}}, status)


def mount_feedback_route(runtime: Runtime) -> None:
    """Add the route to the running proxy's app (once); the proxy serves it like its own endpoints."""
    from fastapi import Depends, Request
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup
    from litellm.proxy.proxy_server import app

    if any(getattr(route, "path", None) == PATH for route in app.router.routes):
        return

    async def costroute_feedback(request: Request, key: Annotated[UserAPIKeyAuth, Depends(user_api_key_auth)]):
        """Rate an answer routed by costroute: a thumbs-down sends similar prompts one tier up from now on."""
        feedback = runtime.feedback
        if feedback is None:
            return _error(404, "feedback is off: set costroute.routing.feedback.enabled and routing mode enforce")
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, 'body must be JSON: {"response_id": "...", "rating": "down"}')
        if not isinstance(body, dict) or not isinstance(body.get("response_id"), str) or not body["response_id"]:
            return _error(400, 'response_id: required, the "id" of the answer (or its x-litellm-call-id header)')
        identity = Identity.from_litellm(LiteLLMProxyRequestSetup.get_sanitized_user_information_from_key(key))
        tenant = tenant_of(identity, runtime.config.tenant_from)
        try:
            result = feedback.rate(body["response_id"], tenant, parse_rating(body.get("rating")))
        except FeedbackError as error:
            return _error(error.status, str(error))
        except Exception as error:  # the store (Redis) is down: the caller may retry
            log.warning("router feedback: rating not stored (%s: %s)", type(error).__name__, error)
            runtime.metrics.plugin_degraded.labels("router", "feedback_rate").inc()
            return _error(503, "feedback store unavailable; retry later")
        log.info("router feedback: %s on %s (served by %s)%s", result.rating, body["response_id"], result.served_tier,
                 f"; similar prompts now go to {result.escalated_to}" if result.escalated_to else "")
        runtime.metrics.feedback.labels(result.rating, result.served_tier).inc()
        return {"response_id": body["response_id"], "rating": result.rating, "served_tier": result.served_tier,
                "escalated_to": result.escalated_to}

    app.add_api_route(PATH, costroute_feedback, methods=["POST"], tags=["costroute"])
    # Ahead of any catch-all route LiteLLM may register, so this path always reaches this handler.
    app.router.routes.insert(0, app.router.routes.pop())
