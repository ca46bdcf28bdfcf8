"""Helpers of the spend tests: ledger settings on the test PostgreSQL and realistic attribution records."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from costroute_plugins.spend import AttributionRecord, LedgerConfig

POSTGRES_DSN = os.environ.get("COSTROUTE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CLOSED_DSN = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1: PostgreSQL is "down"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TENANTS = ("team:acme", "team:globex", "team:initech")
FEATURES = ("search", "chat", None)
TIERS = ("cheap", "balanced", "premium")


def ledger_config(schema: str, spool: Path, dsn: str = POSTGRES_DSN, **overrides) -> LedgerConfig:
    settings = {"enabled": True, "dsn": dsn, "db_schema": schema, "spool_path": str(spool),
                "flush_interval_s": 0.05, "retry_interval_s": 0.2, "batch_size": 50, **overrides}
    return LedgerConfig.model_validate(settings)


def records(count: int, seed: int = 7, start: int = 0, days: int = 1) -> list[AttributionRecord]:
    """Requests spread over ``days`` days before NOW, with sub-cent costs that float sums would round badly."""
    rng = random.Random(seed)
    made = []
    for number in range(start, start + count):
        tier = rng.choice(TIERS)
        hit = tier == "cheap" and rng.random() < 0.3
        cost = Decimal(rng.randint(1, 900_000)) / Decimal(10**8)  # up to $0.009, 1e-8 resolution
        made.append(AttributionRecord(
            request_id=f"req-{number:05d}", tenant=rng.choice(TENANTS), cost_usd=Decimal(0) if hit else cost,
            timestamp=NOW - timedelta(hours=rng.uniform(0.1, 24 * days - 0.1)), feature=rng.choice(FEATURES),
            tier=tier, model=f"{tier}-model", prompt_tokens=rng.randint(10, 2000),
            completion_tokens=rng.randint(1, 500), cache_hit=hit, cache_saving_usd=cost if hit else 0,
            routing_saving_usd=Decimal("0.0123456789") if tier != "premium" else 0, key="sk-test-key",
            decision="router" if not hit else "cache hit", budget_state="normal",
        ))
    return made
