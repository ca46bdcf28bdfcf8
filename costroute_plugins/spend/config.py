"""Spend attribution settings: self-hosted prices, the PostgreSQL ledger, and the anomaly detector.

Validated once at proxy start with ``extra="forbid"`` so a mistyped key stops the start with its name.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from costroute_plugins.spend.pricing import TokenRates

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class LedgerConfig(BaseModel):
    """Where finished requests are recorded, one row each, and how writes survive a PostgreSQL outage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="write one ledger row per finished request")
    dsn: str | None = Field(
        default_factory=lambda: os.environ.get("COSTROUTE_LEDGER_DSN") or None,
        description="PostgreSQL connection string; default $COSTROUTE_LEDGER_DSN",
    )
    db_schema: str = Field("public", description="schema of the ledger table (created if missing)")
    table: str = Field("costroute_spend", description="ledger table name (created if missing)")
    batch_size: int = Field(200, ge=1, le=10_000, description="rows per INSERT")
    flush_interval_s: float = Field(1.0, gt=0, description="longest a row waits in memory before being written")
    queue_size: int = Field(10_000, ge=1, description="rows held in memory; beyond it rows go to the spool")
    spool_path: str = Field(".costroute/spend-spool.jsonl", description="JSON lines kept while PostgreSQL is down")
    spool_max_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="spool bound; rows beyond it are dropped "
                                                                            "and counted")
    rejected_max_bytes: int = Field(
        16 * 1024 * 1024, ge=8192,
        description="bound on <spool_path>.rejected and .rejected.1 together (rows PostgreSQL refused, spool lines "
                    "that were not rows): the oldest file is deleted when full, its lines counted as discarded",
    )
    retry_interval_s: float = Field(5.0, gt=0, description="how often a down PostgreSQL is tried again")
    connect_timeout_s: int = Field(3, ge=1, description="PostgreSQL connect timeout")

    @field_validator("db_schema", "table")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a plain SQL identifier; use letters, digits and _ only")
        return value


class AnomalyConfig(BaseModel):
    """A tenant spending much faster than usual raises an event (log, metric, optional webhook)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    multiple: float = Field(5.0, gt=1, description="alert when the current bucket exceeds this x trailing median")
    bucket_s: float = Field(3600.0, gt=0, description="length of one spend-rate bucket")
    trailing_buckets: int = Field(24, ge=3, description="buckets whose median is the tenant's normal rate")
    min_history: int = Field(3, ge=1, description="buckets of history a tenant needs before it can alert")
    min_spend_usd: float = Field(1.0, ge=0, description="ignore buckets spending less than this")
    webhook_url: HttpUrl | None = Field(None, description="POST each event as JSON here; failures are logged")
    webhook_timeout_s: float = Field(3.0, gt=0)
    max_tenants: int = Field(10_000, ge=1, description="tenants whose spend history is held; beyond it one is "
                                                       "forgotten (first those without history yet) and needs "
                                                       "min_history again")


class MetricLabelsConfig(BaseModel):
    """How many values the Prometheus labels that clients and keys choose may take (``costroute_plugins.labels``):
    each distinct value is a series held in memory and sent in every scrape. Listed values are always exported
    by name; then the first ``max_*`` distinct others; everything after that as ``other``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tenants: int = Field(100, ge=0, le=10_000, description="tenants exported by name besides those listed in "
                                                                "tenants (also bounds the subjects of budget gauges)")
    tenants: list[str] = Field(default_factory=list, description="tenants always exported by name")
    max_features: int = Field(50, ge=0, le=10_000, description="feature tags exported by name besides those listed "
                                                                "in features")
    features: list[str] = Field(default_factory=list, description="feature tags always exported by name")
    max_values: int = Field(20, ge=1, le=1_000, description="distinct tier and decision labels (read from request "
                                                             "metadata) kept besides the configured tiers")


class SpendAttributionConfig(BaseModel):
    """Prices of self-hosted tiers, the ledger, the anomaly detector and the bounds of client-chosen labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    self_hosted_prices: dict[str, TokenRates] = Field(
        default_factory=dict,
        description="model group or deployment model -> TCO rates (from `costroute price-gpu`); LiteLLM's "
                    "response_cost is used for everything else",
    )
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    anomaly: AnomalyConfig = Field(default_factory=AnomalyConfig)
    metrics: MetricLabelsConfig = Field(default_factory=MetricLabelsConfig)
