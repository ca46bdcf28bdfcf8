"""One ``BudgetGuard`` per proxy process, on Redis when configured so every replica shares the counters."""

from __future__ import annotations

from redis.asyncio import Redis

from costroute_plugins.budget.config import BudgetsConfig
from costroute_plugins.budget.guard import BudgetGuard
from costroute_plugins.budget.memory_store import InMemoryBudgetStore
from costroute_plugins.budget.redis_store import RedisBudgetStore

# A budget check sits on every request's path: a slow Redis must fail open fast, not hold the request.
REDIS_TIMEOUT_S = 0.5


def build_guard(config: BudgetsConfig, redis_url: str | None) -> BudgetGuard:
    """Redis store when ``redis_url`` is set (the connection is made lazily, so a Redis that is down at start
    only degrades checks to fail-open), else counters in this process."""
    if not redis_url:
        return BudgetGuard(config, InMemoryBudgetStore())
    client = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    return BudgetGuard(config, RedisBudgetStore(client, prefix=config.key_prefix))
