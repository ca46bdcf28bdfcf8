"""Spend attribution settings: self-hosted prices, the PostgreSQL ledger, and the anomaly detector.

Validated once at proxy start with ``extra="forbid"`` so a mistyped key stops the start with its name.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from costroute_plugins.spend.pricing import TokenRates

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class LedgerConfig(BaseModel):
    """Where finished requests are recorded, one row each, and how writes survive a PostgreSQL outage.

    ``file`` is a key of its own rather than a ``file:`` form of ``dsn``: ``dsn`` defaults to
    $COSTROUTE_LEDGER_DSN and is masked as a secret wherever it is shown, and `costroute report --dsn` reads the
    same variable, so a path hidden in it would reach places that expect PostgreSQL."""

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
    file: str | None = Field(None, description="write rows as JSON lines to this file instead of PostgreSQL (local "
                                               "use, e.g. .costroute/spend.jsonl); read with `costroute report --rows`")
    file_max_bytes: int = Field(
        64 * 1024 * 1024, ge=64 * 1024,
        description="bound on the ledger file: past it the file becomes <file>.1 (replacing the older one) and a "
                    "new file starts, so the two together stay under twice this",
    )

    @field_validator("db_schema", "table")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a plain SQL identifier; use letters, digits and _ only")
        return value

    @field_validator("dsn")
    @classmethod
    def _not_a_file(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("file:"):
            raise ValueError(f"{value!r} is a file, not a PostgreSQL connection string. Fix: write the path as "
                             f"file: {value.removeprefix('file:')} and remove dsn")
        return value

    @field_validator("file")
    @classmethod
    def _a_path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("is empty. Fix: give a path such as .costroute/spend.jsonl, or remove file to write to "
                             "PostgreSQL (dsn)")
        return value

    @model_validator(mode="after")
    def _one_destination(self) -> LedgerConfig:
        """An explicit dsn next to a file is a contradiction; $COSTROUTE_LEDGER_DSN (the dsn default) is not: the
        file named in the config wins over the environment."""
        if self.file is not None and "dsn" in self.model_fields_set and self.dsn:
            raise ValueError("dsn and file are both set, and the ledger writes to one of them. Fix: remove file to "
                             "write to PostgreSQL, or remove dsn to write JSON lines to the file")
        return self


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
