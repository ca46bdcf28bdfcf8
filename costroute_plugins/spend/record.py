"""One finished request as finance sees it: who pays, what it cost, what cache and router saved.

Money is ``Decimal`` rounded to 1e-10 USD, the precision of the ledger's NUMERIC columns, so the totals of a
report equal the sum of the records to the cent (and beyond) instead of drifting like float sums.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

MONEY_QUANTUM = Decimal("1e-10")
KEY_PREFIX_CHARS = 12
MONEY_FIELDS = ("cost_usd", "cache_saving_usd", "routing_saving_usd")
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_tokens")
TOKEN_MAX = 2**31 - 1  # the ledger's token columns are PostgreSQL ``integer``


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


def token_count(value: object) -> int:
    """A token count as the ledger stores it, whatever the upstream reported: a fraction is rounded, a negative
    count, NaN or anything that is not a number is 0, and a count beyond the integer column is capped. Storing
    the row with a corrected count beats losing it: PostgreSQL refuses a float, a string or an overflow."""
    if value is None:
        return 0
    try:
        number = value if isinstance(value, int) and not isinstance(value, bool) else round(Decimal(str(value)))
    except (ArithmeticError, ValueError):  # "lots", NaN, infinity, True, a list
        return 0
    return min(max(number, 0), TOKEN_MAX)


@dataclass(frozen=True)
class AttributionRecord:
    request_id: str
    tenant: str
    cost_usd: Decimal
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
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
    # Set when a token count had to be corrected (see ``token_count``), for the ledger to count; not a column.
    tokens_adjusted: bool = field(default=False, init=False, compare=False)

    def __post_init__(self) -> None:
        for name in MONEY_FIELDS:
            object.__setattr__(self, name, money(getattr(self, name)))
        for name in TOKEN_FIELDS:
            reported = getattr(self, name)
            object.__setattr__(self, name, token_count(reported))
            if reported is not None and getattr(self, name) != reported:
                object.__setattr__(self, "tokens_adjusted", True)
        object.__setattr__(self, "key", key_prefix(self.key))
        if self.timestamp.tzinfo is None:
            raise ValueError("AttributionRecord.timestamp must be timezone-aware")

    @property
    def premium_counterfactual_usd(self) -> Decimal:
        """What the request would have cost always on premium and never from cache."""
        return self.cost_usd + self.cache_saving_usd + self.routing_saving_usd

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict of the columns: money as strings (exact), the timestamp as ISO 8601."""
        data = {name: value for name, value in asdict(self).items() if name in COLUMNS}
        data["timestamp"] = self.timestamp.isoformat()
        for name in MONEY_FIELDS:
            data[name] = str(data[name])
        return data

    @classmethod
    def from_json(cls, data: object) -> AttributionRecord:
        """The record ``to_json`` wrote. Anything else (not an object, a missing field, a value of the wrong kind)
        raises ``ValueError`` saying what is wrong, so a damaged spool line is told apart from a bug."""
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")  # noqa: TRY004  a bad line, not a bug
        values = {name: value for name, value in data.items() if name in COLUMNS}
        try:
            values["timestamp"] = datetime.fromisoformat(values["timestamp"])
            return cls(**values)
        except (KeyError, TypeError, AttributeError, ArithmeticError) as error:
            raise ValueError(f"not an attribution record ({type(error).__name__}: {error})") from error


# Fields a caller sets; those ``__post_init__`` derives describe the record and are not stored.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AttributionRecord) if f.init)
