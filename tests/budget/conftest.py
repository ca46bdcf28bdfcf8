"""Helpers of the budget tests: a settable clock, and guards on the real Redis (one per simulated replica)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from costroute_plugins.budget import BudgetGuard, BudgetsConfig, RedisBudgetStore
from tests.support.clock import Clock

REDIS_URL = os.environ.get("COSTROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))


def budgets(*specs: dict, **settings) -> BudgetsConfig:
    return BudgetsConfig.model_validate({"budgets": list(specs), **settings})


def replica(config: BudgetsConfig, prefix: str, clock=None, url: str = REDIS_URL) -> tuple[BudgetGuard, Redis]:
    """One proxy replica's guard on its own Redis connection pool, sharing counters through ``prefix``."""
    client = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    store = RedisBudgetStore(client, prefix=prefix)
    guard = BudgetGuard(config, store, clock) if clock else BudgetGuard(config, store)
    return guard, client
