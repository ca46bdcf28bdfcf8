"""Cache administration for proxy admins, mounted on the proxy's own FastAPI app.

``GET /costroute/cache``: entries, bytes, lookups, hits and hit rate, in total and per tenant (hits served: none
in shadow mode, where ``shadow_this_replica`` has this replica's would-be hits, ``cache/shadow.py``).
``POST /costroute/cache/flush``: every entry goes. ``POST /costroute/cache/purge`` ``{"tenant": "team:a"}``: one
tenant's entries, in all its scopes. ``POST /costroute/cache/delete`` ``{"tenant": "team:a", "prompt": "..."}``:
the entries that prompt would hit exactly in the tenant's scopes. LiteLLM's own ``POST /cache/flushall`` flushes
costroute's cache too while it is on (otherwise it stays LiteLLM's). Its ``/cache/delete`` stays LiteLLM's: it
takes LiteLLM cache keys, which for a semantic cache leave the prompt out, so they cannot name one entry.

Authenticated like the proxy's other routes (LiteLLM's ``user_api_key_auth``); reading needs a proxy admin, changing
needs role ``proxy_admin`` (the master key has it); any other key gets 403 (``admin_auth``). Tenants are named as in
the spend ledger (``team:a``). The store is shared, so whichever replica answers acts for the fleet
(``cache/admin.py``). Answers: 200 with what was done, 400 for a malformed body, 404 while the cache is off, 503
while its store (Redis) is unreachable.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at mount time, and they
# name classes imported inside ``mount_cache_admin_route``.
import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from costroute_plugins.cache import admin
from costroute_plugins.proxy.admin_auth import is_proxy_admin, refusal
from costroute_plugins.proxy.runtime import Runtime, log

PATH = "/costroute/cache"
LITELLM_FLUSH_PATH = "/cache/flushall"
KIND = "costroute_cache_admin"


def _error(status: int, message: str) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": KIND, "code": status}}, status)


async def _body_fields(request: Any, *names: str) -> dict[str, str] | Any:
    """The named non-empty string fields of the JSON body, or the 400 answer naming what is missing."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    example = "{" + ", ".join(f'"{name}": "..."' for name in names) + "}"
    if not isinstance(body, dict):
        return _error(400, f"body must be JSON: {example}")
    for name in names:
        if not isinstance(body.get(name), str) or not body[name]:
            return _error(400, f"{name}: required, a non-empty string ({example})")
    return {name: body[name] for name in names}


def mount_cache_admin_route(runtime: Runtime, plugin: Any) -> None:
    """Add the routes to the running proxy's app (once); ``plugin`` is the process's ``CachePlugin``."""
    from fastapi import Depends, Request
    from litellm.proxy._types import UserAPIKeyAuth
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from litellm.proxy.proxy_server import app

    if any(getattr(route, "path", None) == PATH for route in app.router.routes):
        return
    Key = Annotated[UserAPIKeyAuth, Depends(user_api_key_auth)]

    def refused(key: Any, write: bool) -> Any:
        """The 403 answer for a key that may not do this, else None."""
        if is_proxy_admin(key, write=write):
            return None
        return refusal("only a proxy admin may " + ("change the cache" if write else "read cache figures") +
                       " (it holds every tenant's answers)", KIND)

    async def act(write: bool, operation: str, call: Callable[..., Any], *args: str) -> Any:
        """Run an admin operation on a worker thread (it scans the store): its result, or the error answer."""
        backend = plugin.backend
        if backend is None:
            return _error(404, "the semantic cache is off (costroute.cache.mode), or its verifier artifact "
                               "could not be loaded: see the proxy's log")
        try:
            result = await asyncio.to_thread(call, backend.cache, *args)
        except Exception as error:  # the store (Redis) is down: the operator may retry
            log.warning("cache admin: %s failed (%s: %s)", operation, type(error).__name__, error)
            runtime.metrics.plugin_degraded.labels("cache", f"admin_{operation}").inc()
            return _error(503, f"cache store unavailable ({type(error).__name__}); retry later")
        if not write:
            return result
        log.info("cache admin: %s%s removed %d entries", operation, "".join(f" {arg!r}" for arg in args), result)
        return {"operation": operation, **dict(zip(("tenant", "prompt"), args, strict=False)), "removed": result}

    async def cache_stats(key: Key):
        """Entries, bytes and hit rate of the semantic cache, in total and per tenant; in shadow mode also this
        replica's would-be hits."""
        answer = refused(key, False) or await act(False, "stats", admin.stats)
        if not isinstance(answer, dict):  # refused, or the error answer
            return answer
        shadow = plugin.backend.shadow if plugin.backend is not None else None
        extra = {"shadow_this_replica": shadow.document()} if shadow is not None else {}
        return {**answer, "mode": runtime.config.cache.mode, **extra}

    async def cache_flush(key: Key):
        """Remove every entry of every tenant, on every replica."""
        return refused(key, True) or await act(True, "flush", admin.flush)

    async def cache_purge(request: Request, key: Key):
        """Remove one tenant's entries in all its scopes, on every replica."""
        denied = refused(key, True)
        fields = denied or await _body_fields(request, "tenant")
        if not isinstance(fields, dict):
            return fields
        return await act(True, "purge", admin.purge_tenant, fields["tenant"])

    async def cache_delete(request: Request, key: Key):
        """Remove the entries a prompt would hit exactly in one tenant's scopes, on every replica."""
        denied = refused(key, True)
        fields = denied or await _body_fields(request, "tenant", "prompt")
        if not isinstance(fields, dict):
            return fields
        return await act(True, "delete", admin.delete_prompt, fields["tenant"], fields["prompt"])

    async def litellm_flushall(key: Key):
        """LiteLLM's flush endpoint, acting on costroute's cache (LiteLLM's own supports only its Redis cache)."""
        answer = refused(key, True) or await act(True, "flush", admin.flush)
        return {"status": "success", **answer} if isinstance(answer, dict) else answer

    routes: list[tuple[str, Callable[..., Any], str]] = [
        (PATH, cache_stats, "GET"), (f"{PATH}/flush", cache_flush, "POST"),
        (f"{PATH}/purge", cache_purge, "POST"), (f"{PATH}/delete", cache_delete, "POST")]
    if plugin.backend is not None:  # costroute's cache is LiteLLM's cache; else LiteLLM's own flushall stays
        routes.append((LITELLM_FLUSH_PATH, litellm_flushall, "POST"))
    for path, handler, method in routes:
        app.add_api_route(path, handler, methods=[method], tags=["costroute"])
        # Ahead of LiteLLM's routes: its own /cache/flushall would answer first, and fail, for this backend.
        app.router.routes.insert(0, app.router.routes.pop())
