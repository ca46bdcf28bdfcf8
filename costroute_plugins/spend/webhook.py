"""Optional webhooks for alerts (spend anomalies, quality below target): one JSON POST each. Failures are logged and never raised, because an
alerting outage must not touch request handling."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from costroute_plugins.spend.anomaly import AnomalyEvent

log = logging.getLogger("costroute")


def endpoint(url: str) -> str:
    """The webhook's scheme and host only: Slack-style webhook URLs carry their secret in the path (and
    httpx's error messages quote the whole URL), so neither may reach a log line."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}/..." if parsed.path not in ("", "/") else \
        f"{parsed.scheme}://{parsed.host}{port}"


def _reason(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


async def post_json(url: str, payload: dict[str, Any], timeout_s: float, what: str) -> bool:
    """POST one JSON document; True when the receiver answered 2xx. Any failure is logged (without the URL's
    path or query, see ``endpoint``), never raised."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=payload)
        response.raise_for_status()
    except Exception as error:  # any failure: log and carry on
        log.warning("%s webhook %s failed: %s", what, endpoint(url), _reason(error))
        return False
    return True


async def post_event(url: str, event: AnomalyEvent, timeout_s: float) -> bool:
    """A spend anomaly, as ``costroute.spend_anomaly``."""
    return await post_json(url, {"type": "costroute.spend_anomaly", **event.to_json()}, timeout_s, "spend anomaly")
