"""Waiting for what a proxy has done, not for a time.

LiteLLM answers the client before it runs the success callbacks (spend attribution, budget settlement) and
before it stores the answer in the cache, so a test that acts on those must wait for them. A fixed sleep races
on a loaded machine; these wait for the proxy (or Redis) to say it happened, up to a generous deadline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import httpx

from costroute_plugins.harness.processes import wait_until
from costroute_plugins.redis_clients import sync_client

_SERIES = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


class ScrapedProxy(Protocol):
    url: str
    master_key: str


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of every series of ``name`` in a Prometheus exposition whose labels include ``labels``."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    total = 0.0
    for line in text.splitlines():
        match = _SERIES.match(line)
        if match and match["name"] == name and wanted <= set((match["labels"] or "").split(",")):
            total += float(match["value"])
    return total


def scrape(proxy: ScrapedProxy, api_key: str | None = None) -> str:
    """The proxy's Prometheus exposition; ``api_key`` where its auth accepts another key than the master key."""
    response = httpx.get(f"{proxy.url}/metrics/", headers={"Authorization": f"Bearer {api_key or proxy.master_key}"},
                         follow_redirects=True, timeout=60)
    response.raise_for_status()
    return response.text


def finished_requests(proxies: Sequence[ScrapedProxy], api_key: str | None = None) -> float:
    """Requests whose success callback (attribution and budget settlement) has run, on all ``proxies``."""
    return sum(metric_sum(scrape(proxy, api_key), "costroute_requests_total") for proxy in proxies)


def wait_until_finished(proxies: Sequence[ScrapedProxy], at_least: float, api_key: str | None = None,
                        timeout: float = 30) -> None:
    """Until ``at_least`` requests have been attributed and settled across ``proxies``."""
    wait_until(lambda: finished_requests(proxies, api_key) >= at_least, timeout, f"{at_least:g} settled requests")


def cache_inserts(redis_url: str, prefix: str) -> int:
    """How many entries the shared cache under ``prefix`` has ever stored (its id counter)."""
    client = sync_client(redis_url)
    try:
        return int(client.get(f"{prefix}seq") or 0)
    finally:
        client.close()
