"""Calling the proxy's admin routes (``/costroute/quality``, ``/costroute/cache``) from the command line.

One place decides what each answer means to an operator: a proxy that cannot be reached, a key that is not a
proxy admin's, or another error, each as one line naming what to check. LiteLLM answers 400 instead of 401 to a
virtual key it cannot look up without its database ("No connected db."), so a request without a body that gets
400 is a refused key too; with a body, 400 is about the body and says so.
"""

from __future__ import annotations

from typing import Any

import httpx


class AdminCallFailed(RuntimeError):
    """The proxy did not answer the admin route with its JSON document; the message says why and what to check."""


def call_admin(base_url: str, key: str | None, method: str, path: str, needs: str,
               body: dict[str, str] | None = None, timeout_s: float = 10.0) -> dict[str, Any]:
    """The route's JSON answer. ``needs`` names what the admin key is for, e.g. "cache administration"."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(method, base_url.rstrip("/") + path, json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise AdminCallFailed(f"cannot reach {base_url} ({type(error).__name__})") from error
    refused = (401, 403) if body is not None else (400, 401, 403)
    if response.status_code in refused:
        raise AdminCallFailed(f"{base_url} refused the key (HTTP {response.status_code}: {_message(response)}): "
                              f"{needs} needs a proxy admin key (--key, default $LITELLM_MASTER_KEY)")
    if response.status_code != 200:
        raise AdminCallFailed(f"{base_url}{path} answered HTTP {response.status_code}: {_message(response)}")
    return response.json()


def _message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return str(error["message"] if isinstance(error, dict) else error)[:200]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
