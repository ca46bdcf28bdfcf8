"""Optional webhook for anomaly events: one JSON POST each. Failures are logged and never raised, because an
alerting outage must not touch request handling."""

from __future__ import annotations

import logging

import httpx

from costroute_plugins.spend.anomaly import AnomalyEvent

log = logging.getLogger("costroute")


async def post_event(url: str, event: AnomalyEvent, timeout_s: float) -> bool:
    """True when the receiver answered 2xx."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(url, json={"type": "costroute.spend_anomaly", **event.to_json()})
        response.raise_for_status()
    except Exception as error:  # any failure: log and carry on
        log.warning("spend anomaly webhook %s failed: %s: %s", url, type(error).__name__, error)
        return False
    return True
