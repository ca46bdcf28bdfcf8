"""The proxy adapter posts budget alerts off the request path: a webhook that is down, or a Redis that cannot say
whether another replica already posted, is logged and counted, and never reaches the request."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from costroute_plugins.budget import AlertOnce, BudgetGuard, BudgetSubject, InMemoryBudgetStore
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.budget_plugin import BudgetPlugin
from tests.budget.conftest import budgets
from tests.support.webhook_receiver import webhook_receiver

ACME = BudgetSubject(tenant="team:acme", team="acme")
SPEC = {"name": "team-daily", "scope": "team", "period": "daily", "limit_usd": 10, "soft_limit": 0.5,
        "action": "downgrade"}


def plugin_for(webhook_url: str, once: AlertOnce | None = None) -> BudgetPlugin:
    """The budget plugin on the parts of the proxy's runtime that announcing alerts uses."""
    runtime = SimpleNamespace(config=SimpleNamespace(budget=budgets(SPEC, webhook_url=webhook_url)),
                              budget_alerts=once or AlertOnce(), metrics=Metrics.create(CollectorRegistry()))
    return BudgetPlugin(runtime)  # type: ignore[arg-type]


async def past_the_soft_limit(plugin: BudgetPlugin):
    guard = BudgetGuard(plugin.runtime.config.budget, InMemoryBudgetStore())
    await guard.settle(await guard.check(ACME, 6.0), 6.0)
    return await guard.check(ACME, 0.1)


def degraded(plugin: BudgetPlugin, reason: str) -> float:
    """``costroute_plugin_degraded_total{plugin="budget", reason=...}`` as the proxy's /metrics would show it."""
    return plugin.runtime.metrics.plugin_degraded.labels("budget", reason)._value.get()


async def test_the_alert_is_posted_once_from_a_background_task():
    with webhook_receiver() as receiver:
        plugin = plugin_for(receiver.url)
        decision = await past_the_soft_limit(plugin)

        for _ in range(3):  # three requests see the crossing
            plugin._announce(decision)
        await asyncio.gather(*plugin._tasks)

        (alert,) = receiver.wait_for(1)
    assert (alert["level"], alert["budget"], alert["subject"], alert["spent_usd"]) == \
        ("soft_limit", "team-daily", "acme", 6.0)


async def test_a_failing_webhook_is_logged_and_counted(caplog):
    with webhook_receiver(status=500) as receiver:
        plugin = plugin_for(receiver.url)
        plugin._announce(await past_the_soft_limit(plugin))
        await asyncio.gather(*plugin._tasks)

    assert "budget alert webhook http://127.0.0.1" in caplog.text and "500" in caplog.text
    assert degraded(plugin, "webhook") == 1


async def test_with_redis_unreachable_the_alert_is_posted_anyway_and_the_outage_counted(caplog):
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with webhook_receiver() as receiver:
        plugin = plugin_for(receiver.url, AlertOnce(unreachable))
        plugin._announce(await past_the_soft_limit(plugin))
        await asyncio.gather(*plugin._tasks)

        assert len(receiver.wait_for(1)) == 1  # a duplicate alert beats a lost one
    assert degraded(plugin, "alert_claim") == 1 and "announcing it" in caplog.text
    await unreachable.aclose()


async def test_an_alert_that_cannot_be_evaluated_never_fails_the_request(caplog):
    plugin = plugin_for("http://127.0.0.1:1/never")
    plugin.runtime.budget_alerts = None  # any failure inside the announcement

    plugin._announce(await past_the_soft_limit(plugin))

    assert degraded(plugin, "alert") == 1 and "could not announce a budget alert" in caplog.text
