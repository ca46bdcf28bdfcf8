"""Who may use costroute's operator routes: a proxy admin, as LiteLLM authenticated the request.

That is the master key, or a key whose role is ``proxy_admin``; ``proxy_admin_viewer`` (LiteLLM's read-only
admin) may read but not change anything. The routes cover every tenant, so no other key may use them.
"""

from __future__ import annotations

from typing import Any

ADMIN_ROLES = ("proxy_admin", "proxy_admin_viewer")
WRITER_ROLES = ("proxy_admin",)


def role_of(key: Any) -> str | None:
    """The role LiteLLM gave the authenticated key (``UserAPIKeyAuth.user_role``), as its string value."""
    role = getattr(key, "user_role", None)
    return getattr(role, "value", role)


def is_proxy_admin(key: Any, *, write: bool = False) -> bool:
    """Whether ``key`` may read (``write=False``) or change (``write=True``) what every tenant shares."""
    return role_of(key) in (WRITER_ROLES if write else ADMIN_ROLES)


def refusal(message: str, kind: str) -> Any:
    """The 403 answer, in the proxy's error shape."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": {"message": message, "type": kind, "code": 403}}, 403)
