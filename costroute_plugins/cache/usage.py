"""What the cache holds and serves per tenant, for operators (``GET /costroute/cache``, ``costroute cache stats``).

Bytes are the payload an entry stores (prompt, answer JSON, vector), the part that grows with use; the store's own
overhead per key is left out, as it depends on the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# How stats name entries stored before the tenant was recorded with each entry.
UNKNOWN_TENANT = "(unknown)"


def entry_bytes(text: str, response: Mapping[str, Any], vector: np.ndarray) -> int:
    """The bytes an entry stores: its prompt and answer as UTF-8 (the answer as the JSON stored) and its vector."""
    answer = json.dumps(response, ensure_ascii=False)
    return len(text.encode("utf-8", "surrogatepass")) + len(answer.encode("utf-8", "surrogatepass")) + \
        int(np.asarray(vector, dtype=np.float32).nbytes)


@dataclass
class TenantUsage:
    entries: int = 0
    bytes: int = 0
    lookups: int = 0
    hits: int = 0

    def add_entry(self, size: int) -> None:
        self.entries += 1
        self.bytes += size

    def add_lookups(self, lookups: int, hits: int) -> None:
        self.lookups += lookups
        self.hits += hits

    @property
    def hit_rate(self) -> float | None:
        """Hits per cacheable lookup; None before the first lookup."""
        return self.hits / self.lookups if self.lookups else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.hit_rate
        return {"entries": self.entries, "bytes": self.bytes, "lookups": self.lookups, "hits": self.hits,
                "hit_rate": None if rate is None else round(rate, 4)}


def usage_document(usage: Mapping[str | None, TenantUsage]) -> dict[str, Any]:
    """The stats answer: totals and one row per tenant, tenants sorted by name."""
    total = TenantUsage()
    for row in usage.values():
        total.entries += row.entries
        total.bytes += row.bytes
        total.add_lookups(row.lookups, row.hits)
    return {"total": total.as_dict(),
            "tenants": {tenant or UNKNOWN_TENANT: usage[tenant].as_dict()
                        for tenant in sorted(usage, key=lambda name: name or "")}}
