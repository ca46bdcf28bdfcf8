"""One ``BudgetGuard`` per proxy process, on Redis when configured so every replica shares the counters."""

from __future__ import annotations

from costroute_plugins.budget.alert_once import AlertOnce
from costroute_plugins.budget.config import BudgetsConfig
from costroute_plugins.budget.guard import BudgetGuard
from costroute_plugins.budget.memory_store import InMemoryBudgetStore
from costroute_plugins.budget.redis_store import RedisBudgetStore
from costroute_plugins.budget.store import BudgetStore
from costroute_plugins.redis_clients import async_client


def build_store(redis_url: str | None, prefix: str) -> BudgetStore:
    """Counters on Redis when ``redis_url`` is set (the connection is made lazily, so a Redis that is down at
    start only fails the checks that need it), else in this process. Budgets and the audit spend cap use it."""
    if not redis_url:
        return InMemoryBudgetStore()
    return RedisBudgetStore(async_client(redis_url), prefix=prefix)


def build_guard(config: BudgetsConfig, redis_url: str | None) -> BudgetGuard:
    """The guard on ``build_store``: a store that fails degrades checks to fail-open."""
    return BudgetGuard(config, build_store(redis_url, config.key_prefix))


def build_alert_once(config: BudgetsConfig, redis_url: str | None) -> AlertOnce:
    """Budget alerts de-duplicated on the budget store's Redis and key prefix when ``redis_url`` is set (every
    replica then posts each alert once in all), else in this process."""
    return AlertOnce(async_client(redis_url) if redis_url else None, prefix=config.key_prefix)
