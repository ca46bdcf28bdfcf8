"""``GET /costroute/quality``: what the audits show and what the quality loop did, for proxy admins.

Mounted on the proxy's own FastAPI app and authenticated like its other routes (LiteLLM's
``user_api_key_auth``); only a proxy admin (the master key, or a key with role ``proxy_admin`` or
``proxy_admin_viewer``) may read it, since it covers every tenant. Shared figures (the routed traffic's overall
estimate, the loop's shift and its change history, today's audit spend) come from the shared store, so any
replica answers for the fleet; per-tier, per-tenant and cache estimates are this replica's. ``costroute report
--proxy URL`` prints it beside the spend.
"""

# No `from __future__ import annotations` here: FastAPI reads the handler's annotations at mount time.
from typing import Annotated, Any

from costroute_plugins.proxy.admin_auth import is_proxy_admin, refusal
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.quality.estimate import Estimate

PATH = "/costroute/quality"


def _estimate(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {"value": round(estimate.value, 4), "lower": round(estimate.lower, 4), "upper": round(estimate.upper, 4),
            "count": estimate.count}


async def quality_summary(runtime: Runtime, plugin: Any) -> dict[str, Any]:
    """The document the route answers; ``plugin`` is the process's ``QualityPlugin``."""
    config = runtime.config.quality
    estimates = plugin.estimates
    summary: dict[str, Any] = {
        "enabled": config.enabled, "target": config.target, "judge": config.judge,
        "estimates_this_replica": {str(key): _estimate(estimates.quality(key)) for key in estimates.keys()},
        "wrong_cache_hit_rate_this_replica": _estimate(estimates.wrong_hit_rate()),
        "loop": {"enabled": config.loop.enabled},
    }
    try:
        summary["overall"] = _estimate(await plugin.loop.overall())
        state = await plugin.loop.store.state()
        cache_state = await plugin.cache_loop.store.state()
        summary["loop"].update(shift=state.shift, version=state.version,
                               changes=await plugin.loop.store.history(),
                               cache_similarity_raise=cache_state.shift,
                               cache_changes=await plugin.cache_loop.store.history())
        summary["audit_spend_today_usd"] = round(await plugin.runner.governor.spent_today(), 6)
    except Exception as error:  # the shared store is down: answer with what this replica knows
        log.warning("quality summary: shared state unavailable (%s)", type(error).__name__)
        summary["shared_state_error"] = type(error).__name__
    return summary


def mount_quality_route(runtime: Runtime, plugin: Any) -> None:
    """Add the route to the running proxy's app (once)."""
    from fastapi import Depends
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from litellm.proxy.proxy_server import app

    if any(getattr(route, "path", None) == PATH for route in app.router.routes):
        return

    async def costroute_quality(key: Annotated[UserAPIKeyAuth, Depends(user_api_key_auth)]):
        """Quality estimates, the quality loop's state and its last changes."""
        if not is_proxy_admin(key):
            return refusal("only a proxy admin may read quality figures (they cover every tenant)",
                           "costroute_quality")
        return await quality_summary(runtime, plugin)

    app.add_api_route(PATH, costroute_quality, methods=["GET"], tags=["costroute"])
    app.router.routes.insert(0, app.router.routes.pop())
