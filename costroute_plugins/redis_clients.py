"""The one place costroute makes Redis clients, with the one timeout every part shares.

Redis sits on request paths (cache lookups, budget reservations, feedback, the quality loop's state): a slow or
unreachable Redis must fail those checks fast, so each part degrades (and says so) instead of holding the
request. One timeout for all of them keeps that promise uniform and in one place.
"""

from __future__ import annotations

import redis
import redis.asyncio

TIMEOUT_S = 0.5


def sync_client(url: str) -> redis.Redis:
    """A blocking client (the cache store and the feedback store, which run off the event loop)."""
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def async_client(url: str) -> redis.asyncio.Redis:
    """An asyncio client (budget counters, the audit spend cap and the quality loop's shared state)."""
    return redis.asyncio.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
