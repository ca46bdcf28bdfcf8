"""Each budget alert once (per budget and subject, period and level), however many requests and replicas see it.

Every check past a threshold sees the same crossing again, so the first filter is this replica's memory: no
round trip on the request path once an alert is known. With Redis (the budget store's server and key prefix),
the replica whose ``SET NX`` on the alert's key wins posts it; the key expires with the budget's period, like
the counters. Without Redis the memory is the only filter, so each replica posts once; such replicas do not
share their counters either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from costroute_plugins.budget.alerts import BudgetAlert
from costroute_plugins.redis_clients import AsyncClient

# Alert keys this replica remembers at most. Subjects come from keys and even from requests (end users), so the
# memory is bounded; an alert forgotten early is filtered by Redis again, or (no Redis) posted once more.
MAX_KEYS = 10_000


class AlertOnce:
    def __init__(self, client: AsyncClient | None = None, prefix: str = "costroute:budget:",
                 clock: Callable[[], float] = time.time, max_keys: int = MAX_KEYS) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        self._max_keys = max_keys
        self._seen: dict[str, float] = {}  # alert key -> expires at (unix seconds), oldest first

    def unseen(self, alerts: Iterable[BudgetAlert]) -> list[BudgetAlert]:
        """The alerts this replica has not seen in their period, remembered from now on. No I/O: it runs on the
        request path, for every check of a budget past a threshold."""
        fresh = []
        for alert in alerts:
            if alert.key in self._seen:
                continue
            self._remember(alert)
            fresh.append(alert)
        return fresh

    def _remember(self, alert: BudgetAlert) -> None:
        if len(self._seen) >= self._max_keys:
            now = self._clock()
            for key in [key for key, expires_at in self._seen.items() if expires_at <= now]:
                del self._seen[key]
            while len(self._seen) >= self._max_keys:
                del self._seen[next(iter(self._seen))]
        self._seen[alert.key] = alert.expires_at

    async def claim(self, alert: BudgetAlert) -> bool:
        """True when this replica is the one to announce ``alert``: always without Redis, else when its ``SET NX``
        is the first. Raises Redis errors: the caller then announces it anyway, since a duplicate alert beats a
        lost one."""
        if self._client is None:
            return True
        expires_ms = max(int(alert.expires_at * 1000), int(self._clock() * 1000) + 1000)
        return bool(await self._client.set(f"{self._prefix}alert:{alert.key}", "1", nx=True, pxat=expires_ms))
