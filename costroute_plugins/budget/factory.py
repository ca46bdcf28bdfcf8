"""One ``BudgetGuard`` per proxy process, on Redis when configured so every replica shares the counters."""

from __future__ import annotations

from redis.asyncio import Redis

from costroute_plugins.budget.config import BudgetsConfig
from costroute_plugins.budget.guard import BudgetGuard
from costroute_plugins.budget.memory_store import InMemoryBudgetStore
from costroute_plugins.budget.redis_store import RedisBudgetStore
from costroute_plugins.budget.store import BudgetStore

# A budget check sits on every request's path: a slow Redis must fail open fast, not hold the request.
REDIS_TIMEOUT_S = 0.5


def build_store(redis_url: str | None, prefix: str) -> BudgetStore:
    """Counters on Redis when ``redis_url`` is set (the connection is made lazily, so a Redis that is down at
    start only fails the checks that need it), else in this process. Budgets and the audit spend cap use it."""
    if not redis_url:
        return InMemoryBudgetStore()
    client = Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
    return RedisBudgetStore(client, prefix=prefix)


def build_guard(config: BudgetsConfig, redis_url: str | None) -> BudgetGuard:
    """The guard on ``build_store``: a store that fails degrades checks to fail-open."""
    return BudgetGuard(config, build_store(redis_url, config.key_prefix))
