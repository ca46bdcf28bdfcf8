"""Spend anomalies: a tenant whose spend in the current time bucket exceeds ``multiple`` x the median of its
trailing buckets (a runaway agent loop, a leaked key) becomes an event, at most once per tenant and bucket.

The median, not the mean, is the baseline so one earlier spike does not hide the next one. State is per
process and bounded: ``trailing_buckets`` numbers per tenant, for at most ``max_tenants`` tenants. Tenants come
from keys and even from the request (``end_user``), so a caller inventing one per request must neither grow
the process without end nor push established tenants out: when full, the tenant inactive longest among those
still in their first bucket (no history, nothing to lose) is forgotten first, and one with history only when
every other tenant has some. Each replica sees its share of the traffic, which keeps the ratio, so detection
does not need shared state.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from costroute_plugins.spend.config import AnomalyConfig


@dataclass(frozen=True)
class AnomalyEvent:
    tenant: str
    bucket_start: datetime
    bucket_spend_usd: float
    trailing_median_usd: float
    multiple: float

    @property
    def message(self) -> str:
        return (f"tenant {self.tenant} spent ${self.bucket_spend_usd:,.2f} since {self.bucket_start:%Y-%m-%d %H:%M} "
                f"UTC, {self.bucket_spend_usd / self.trailing_median_usd:.1f}x its trailing median of "
                f"${self.trailing_median_usd:,.2f} per bucket (alert above {self.multiple:g}x)")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bucket_start"] = self.bucket_start.isoformat()
        data["message"] = self.message
        return data


@dataclass
class _Tenant:
    bucket: int
    spend: float = 0.0
    history: deque[float] = field(default_factory=deque)
    alerted: bool = False


class AnomalyDetector:
    def __init__(self, config: AnomalyConfig) -> None:
        self.config = config
        # Least recently active first: tenants still in their first bucket, and those with history.
        self._new: OrderedDict[str, _Tenant] = OrderedDict()
        self._known: OrderedDict[str, _Tenant] = OrderedDict()

    def __len__(self) -> int:
        """Tenants whose spend is held."""
        return len(self._new) + len(self._known)

    def observe(self, tenant: str, cost_usd: float, at: datetime) -> AnomalyEvent | None:
        """Add one request's cost; returns an event the first time the tenant's bucket crosses the threshold."""
        if not self.config.enabled:
            return None
        bucket = int(at.timestamp() // self.config.bucket_s)
        state = self._state(tenant, bucket)
        if bucket > state.bucket:
            # Close the bucket, and record the empty buckets of a quiet spell as zero spend.
            gaps = min(bucket - state.bucket - 1, self.config.trailing_buckets)
            state.history.extend([state.spend] + [0.0] * gaps)
            state.bucket, state.spend, state.alerted = bucket, 0.0, False
            if tenant in self._new:
                self._known[tenant] = self._new.pop(tenant)
        state.spend += max(cost_usd, 0.0)
        if state.alerted or len(state.history) < self.config.min_history or state.spend < self.config.min_spend_usd:
            return None
        median = statistics.median(state.history)
        if median > 0 and state.spend <= self.config.multiple * median:
            return None
        state.alerted = True
        start = datetime.fromtimestamp(bucket * self.config.bucket_s, UTC)
        return AnomalyEvent(tenant, start, state.spend, median, self.config.multiple)

    def _state(self, tenant: str, bucket: int) -> _Tenant:
        """The tenant's state, now the most recently active; a new tenant may push out another (see above)."""
        for tenants in (self._known, self._new):
            state = tenants.get(tenant)
            if state is not None:
                tenants.move_to_end(tenant)
                return state
        state = self._new[tenant] = _Tenant(bucket, history=deque(maxlen=self.config.trailing_buckets))
        if len(self) > self.config.max_tenants:
            (self._new if len(self._new) > 1 else self._known).popitem(last=False)
        return state
