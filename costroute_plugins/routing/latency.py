"""How long each tier takes to answer: observed on this replica's own traffic, else the operator's figure.

A ``max_latency_ms`` hint is only useful against a realistic figure. Observed latency (an exponentially
weighted mean of completed requests) follows a tier that slows down under load; until a tier has a few
observations, the configured ``tier_latency_ms`` stands in, and a tier with neither counts as fitting any
budget (nothing says it does not).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping


class TierLatency:
    def __init__(self, configured_ms: Mapping[str, float] | None = None, *, alpha: float = 0.2,
                 min_observations: int = 5) -> None:
        self.configured_ms = dict(configured_ms or {})
        self.alpha = alpha
        self.min_observations = min_observations
        self._mean: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def observe(self, tier: str, latency_ms: float) -> None:
        with self._lock:
            count = self._count.get(tier, 0) + 1
            self._count[tier] = count
            previous = self._mean.get(tier)
            self._mean[tier] = latency_ms if previous is None else previous + self.alpha * (latency_ms - previous)

    def expected_ms(self, tier: str) -> float | None:
        with self._lock:
            if self._count.get(tier, 0) >= self.min_observations:
                return self._mean[tier]
        return self.configured_ms.get(tier)

    def fits(self, tier: str, max_latency_ms: float) -> bool:
        expected = self.expected_ms(tier)
        return expected is None or expected <= max_latency_ms
