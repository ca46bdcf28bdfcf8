"""Optional webhooks for alerts (spend anomalies, quality below target): one JSON POST each. Failures are logged and never raised, because an
alerting outage must not touch request handling."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from costroute_plugins.config_errors import redact_url
from costroute_plugins.spend.anomaly import AnomalyEvent

log = logging.getLogger("costroute")


async def post_json(url: str, payload: dict[str, Any], timeout_s: float, what: str) -> bool:
    """POST one JSON document; True when the receiver answered 2xx. Any failure is logged, never raised."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json=payload)
        response.raise_for_status()
    except Exception as error:  # any failure: log and carry on
        log.warning("%s webhook %s failed: %s: %s", what, redact_url(url), type(error).__name__, error)
        return False
    return True


async def post_event(url: str, event: AnomalyEvent, timeout_s: float) -> bool:
    """A spend anomaly, as ``costroute.spend_anomaly``."""
    return await post_json(url, {"type": "costroute.spend_anomaly", **event.to_json()}, timeout_s, "spend anomaly")
