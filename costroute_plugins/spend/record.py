"""One finished request as finance sees it: who pays, what it cost, what cache and router saved.

Money is ``Decimal`` rounded to 1e-10 USD, the precision of the ledger's NUMERIC columns, so the totals of a
report equal the sum of the records to the cent (and beyond) instead of drifting like float sums.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

MONEY_QUANTUM = Decimal("1e-10")
KEY_PREFIX_CHARS = 12
MONEY_FIELDS = ("cost_usd", "cache_saving_usd", "routing_saving_usd")


def money(value: float | str | Decimal | None) -> Decimal:
    """USD as Decimal at ledger precision; floats go through ``str`` so 0.1 stays 0.1."""
    if value is None:
        return Decimal(0).quantize(MONEY_QUANTUM)
    return Decimal(value if isinstance(value, (str, Decimal)) else repr(float(value))).quantize(MONEY_QUANTUM)


def key_prefix(key_or_hash: str | None) -> str | None:
    """A short, non-secret key identifier: the prefix of LiteLLM's key hash; a raw ``sk-`` key is hashed first."""
    if not key_or_hash:
        return None
    if key_or_hash.startswith("sk-"):
        key_or_hash = hashlib.sha256(key_or_hash.encode()).hexdigest()
    return key_or_hash[:KEY_PREFIX_CHARS]


@dataclass(frozen=True)
class AttributionRecord:
    request_id: str
    tenant: str
    cost_usd: Decimal
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    team: str | None = None
    key: str | None = None  # hash prefix only, see ``key_prefix``
    end_user: str | None = None
    feature: str | None = None
    experiment: str | None = None
    variant: str | None = None
    tier: str | None = None
    model: str | None = None
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_hit: bool = False
    cache_saving_usd: Decimal = Decimal(0)  # what the request would have cost without the cache hit
    routing_saving_usd: Decimal = Decimal(0)  # premium-tier cost minus the cost of the tier that served it
    decision: str | None = None  # why it got its tier (router reason, budget downgrade, cache hit, ...)
    budget_state: str | None = None  # ``BudgetDecision.state_label``

    def __post_init__(self) -> None:
        for name in MONEY_FIELDS:
            object.__setattr__(self, name, money(getattr(self, name)))
        object.__setattr__(self, "key", key_prefix(self.key))
        if self.timestamp.tzinfo is None:
            raise ValueError("AttributionRecord.timestamp must be timezone-aware")

    @property
    def premium_counterfactual_usd(self) -> Decimal:
        """What the request would have cost always on premium and never from cache."""
        return self.cost_usd + self.cache_saving_usd + self.routing_saving_usd

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: money as strings (exact), the timestamp as ISO 8601."""
        data = asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        for name in MONEY_FIELDS:
            data[name] = str(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttributionRecord:
        known = {f.name for f in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        values["timestamp"] = datetime.fromisoformat(values["timestamp"])
        return cls(**values)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AttributionRecord))
