"""Budget settings: which caps exist, over which calendar period, and what happens near and at them.

Validated once at proxy start (``extra="forbid"`` everywhere) so a typo such as ``limt_usd`` stops the start with
a message naming the key, instead of a budget silently not existing.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

ScopeKind = Literal["tenant", "team", "key", "end_user", "feature"]
PeriodKind = Literal["daily", "monthly"]
CapAction = Literal["downgrade", "throttle", "block"]


class BudgetSpec(BaseModel):
    """One cap: ``limit_usd`` per ``period`` for each subject of ``scope`` (or only the subject ``match``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="shown in errors, metrics, logs")
    scope: ScopeKind = Field(
        description="what the cap is counted per: tenant, team, key, end_user or feature; end users and features "
                    "are the caller's claims, so each is counted within the team (else key) that sent it"
    )
    match: str | None = Field(
        None, description="only this subject (e.g. 'team:acme', 'search'); unset: every subject gets its own cap"
    )
    period: PeriodKind = Field("monthly", description="calendar day or month in budget.timezone")
    limit_usd: float = Field(gt=0, description="the cap in USD for one period")
    soft_limit: float = Field(
        0.7, gt=0, lt=1, description="share of the cap above which the router's quality target relaxes"
    )
    action: CapAction = Field(
        "downgrade", description="at the cap: downgrade (cheapest tier only), throttle (429) or block (error)"
    )
    retry_after_s: int | None = Field(
        None, ge=1, description="throttle: Retry-After seconds; unset: seconds until the period resets"
    )


class BudgetsConfig(BaseModel):
    """The ``costroute.budget`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="enforce budgets; off: every request is allowed and nothing is counted")
    timezone: str = Field("UTC", description="IANA time zone in which days and months start, e.g. Europe/Berlin")
    budgets: list[BudgetSpec] = Field(default_factory=list, description="the caps; none: every tenant unlimited")
    exempt_tenants: list[str] = Field(
        default_factory=list, description="tenants (e.g. 'team:vip') counted but never relaxed, downgraded or refused"
    )
    max_quality_relaxation: float = Field(
        0.5, ge=0, le=1, description="how far the router's thresholds move toward 1 when a budget reaches its cap"
    )
    default_max_tokens: int = Field(
        1024, ge=1, description="completion tokens assumed for the reservation when a request sets no max_tokens"
    )
    max_reserved_tokens: int = Field(
        131_072, ge=1, description="completion tokens reserved per answer at most: a request's larger max_tokens "
                                   "(no model writes 10**30 tokens) reserves this many"
    )
    reservation_ttl_s: float = Field(
        600, gt=0, description="a reservation never settled (crashed replica) stops counting after this long"
    )
    key_prefix: str = Field("costroute:budget:", description="Redis key prefix of the shared counters")
    webhook_url: HttpUrl | None = Field(
        None, description="POST a JSON alert here (Slack-compatible `text`) when a budget's settled spend crosses "
                          "its soft_limit and when it reaches its cap: once per budget and subject, period and "
                          "level (across replicas with redis_url); failures are logged and counted")
    webhook_timeout_s: float = Field(3.0, gt=0, description="how long one budget alert POST may take")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'") from None
        return value

    @model_validator(mode="after")
    def _names_unique(self) -> BudgetsConfig:
        names = [budget.name for budget in self.budgets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"budgets: names must be unique, {duplicates} appear more than once; rename them")
        return self

    @model_validator(mode="after")
    def _default_within_ceiling(self) -> BudgetsConfig:
        if self.default_max_tokens > self.max_reserved_tokens:
            raise ValueError(
                f"default_max_tokens ({self.default_max_tokens}) is above max_reserved_tokens "
                f"({self.max_reserved_tokens}), so it would never be reserved in full; lower default_max_tokens "
                "or raise max_reserved_tokens")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
