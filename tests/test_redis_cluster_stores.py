"""On a 3-master Redis Cluster (``redis_url: redis+cluster://...``) every shared state works as on one server:
budget caps and the audit spend cap hold across replicas, cached answers are shared and spread over the masters,
an operator's flush and purge reach every master, thumbs-downs, the quality loop and the router registry are
shared. Each test plays two replicas as two clients made from the same URL, as two proxy processes would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry

from costroute_plugins.budget import BudgetsConfig, BudgetSubject
from costroute_plugins.budget.factory import build_guard, build_store
from costroute_plugins.cache import admin
from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.loop import QualityLoop
from costroute_plugins.quality.loop_store import RedisLoopStore
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.quality.spend_cap import AuditSpendGovernor
from costroute_plugins.redis_clients import async_client, sync_client
from costroute_plugins.routing.feedback import FeedbackService, FeedbackSettings
from costroute_plugins.routing.feedback_store import RedisFeedbackStore, Served
from costroute_plugins.routing.registry import ArtifactRegistry, RedisMirror
from tests.cache.conftest import BagOfWordsEmbedder
from tests.conftest import isolated_redis_prefix
from tests.quality.test_controller import LOOP, outcome
from tests.routing.test_registry import tiny_artifact
from tests.support.redis_topologies import RedisClusterSet

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}]}


@pytest.fixture
def prefix(redis_cluster: RedisClusterSet) -> Iterator[str]:
    """A key prefix of the test's own on the cluster; its keys are deleted from every master afterwards."""
    yield from isolated_redis_prefix("cluster:", redis_url=redis_cluster.url)


def keys_per_master(cluster: RedisClusterSet, match: str) -> list[int]:
    """How many keys matching ``match`` each master holds, read from each master directly."""
    counts = []
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            counts.append(sum(1 for _ in node.scan_iter(match=match, count=1000)))
    return counts


async def test_fifty_concurrent_requests_on_two_replicas_stay_within_one_request_of_a_cluster_cap(
    redis_cluster: RedisClusterSet, prefix: str
):
    config = BudgetsConfig.model_validate({"key_prefix": prefix, "budgets": [
        {"name": "acme-daily", "scope": "tenant", "period": "daily", "limit_usd": 1.0, "action": "block"},
        {"name": "team-daily", "scope": "team", "period": "daily", "limit_usd": 100.0, "action": "block"}]})
    replicas = [build_guard(config, redis_cluster.url), build_guard(config, redis_cluster.url)]
    subject = BudgetSubject(tenant="team:acme", team="acme")

    async def one(number: int) -> float:
        decision = await replicas[number % 2].check(subject, 0.07, request_id=f"req-{number}")
        if not decision.allowed:
            return 0.0
        assert decision.degraded_reason is None, decision.degraded_reason
        await replicas[number % 2].settle(decision, 0.063)
        return 0.063

    spent = await asyncio.gather(*(one(number) for number in range(50)))
    tenant_state, team_state = await replicas[0].states(subject)
    for replica in replicas:
        await replica.close()

    assert sum(spent) <= 1.0 + 0.07 and 0 < sum(1 for cost in spent if cost) < 50
    assert tenant_state.spent_usd == pytest.approx(sum(spent)) and tenant_state.reserved_usd == 0
    assert team_state.spent_usd == pytest.approx(sum(spent))  # both budgets counted in the same script
    # One hash tag: every counter of the keyspace is on one master, so a check spans budgets atomically.
    assert sorted(keys_per_master(redis_cluster, f"{prefix}*"))[:2] == [0, 0]


async def test_audits_on_two_replicas_share_one_spend_cap_on_a_cluster(redis_cluster: RedisClusterSet, prefix: str):
    config = QualityConfig(enabled=True, max_usd_per_day=1.0, max_share_of_savings=0.1)
    replicas = [AuditSpendGovernor(config, build_store(redis_cluster.url, prefix)) for _ in range(2)]

    async def one(number: int) -> float:
        _check, hold = await replicas[number % 2].reserve(0.07, savings_today_usd=100.0, request_id=f"a{number}")
        if hold is None:
            return 0.0
        await replicas[number % 2].settle(hold, 0.07)
        return 0.07

    spent = await asyncio.gather(*(one(number) for number in range(40)))

    assert sum(1 for cost in spent if cost) == 14  # $1.00 / $0.07
    assert await replicas[1].spent_today() == pytest.approx(sum(spent))
    for replica in replicas:
        await replica.store.close()


def cache_on(url: str, prefix: str) -> SemanticCache:
    """One replica's cache on the cluster."""
    config = SemanticCacheConfig.parse({"learned_verifier": False})
    return SemanticCache.from_config(config, BagOfWordsEmbedder(), RedisStore(sync_client(url), prefix=prefix))


def store_answer(cache: SemanticCache, text: str, tenant: str) -> None:
    asked = cache.scope_for([{"role": "user", "content": text}], tenant=tenant, model="auto")
    assert cache.insert(asked.scope, asked.text, ANSWER)


def served(cache: SemanticCache, text: str, tenant: str) -> bool:
    asked = cache.scope_for([{"role": "user", "content": text}], tenant=tenant, model="auto")
    return cache.lookup(asked.scope, asked.text) is not None


QUESTIONS = [f"What is the capital city of country number {number} on the list?" for number in range(24)]


def test_answers_cached_through_one_replica_are_served_by_the_other_from_every_master(
    redis_cluster: RedisClusterSet, prefix: str
):
    writer, reader = cache_on(redis_cluster.url, prefix), cache_on(redis_cluster.url, prefix)

    for question in QUESTIONS:
        store_answer(writer, question, "team:a")
    reader.sync()  # what a replica does before each lookup: replay the other replicas' inserts

    assert all(served(reader, question, "team:a") for question in QUESTIONS)
    assert not served(reader, QUESTIONS[0], "team:b")
    assert all(count > 0 for count in keys_per_master(redis_cluster, f"{prefix}e:*"))  # spread, not one slot
    assert admin.stats(reader)["tenants"]["team:a"]["entries"] == len(QUESTIONS)


def test_an_operator_purge_and_flush_reach_entries_on_every_master(redis_cluster: RedisClusterSet, prefix: str):
    operator, other = cache_on(redis_cluster.url, prefix), cache_on(redis_cluster.url, prefix)
    for question in QUESTIONS:
        store_answer(operator, question, "team:a")
        store_answer(operator, question, "team:b")
    other.sync()

    purged = admin.purge_tenant(operator, "team:a")
    other.sync()
    after_purge = [served(other, question, "team:a") for question in QUESTIONS]
    flushed = admin.flush(operator)
    other.sync()

    assert purged == len(QUESTIONS) and not any(after_purge)
    assert flushed == len(QUESTIONS)  # team b's entries, wherever they were
    assert not any(served(other, question, "team:b") for question in QUESTIONS)
    assert keys_per_master(redis_cluster, f"{prefix}e:*") == [0, 0, 0]


def test_a_thumbs_down_through_one_replica_escalates_a_paraphrase_on_the_other(
    redis_cluster: RedisClusterSet, prefix: str
):
    prompt = "What is the boiling point of water at sea level?"
    paraphrase = "At sea level, what's the boiling point of water?"
    vectors = dict(zip((prompt, paraphrase), BagOfWordsEmbedder().embed([prompt, paraphrase]), strict=True))
    settings = FeedbackSettings(refresh_s=0.0, max_escalations=2)
    tiers = ["cheap", "balanced", "premium"]
    replica_a, replica_b = (FeedbackService(settings, tiers, RedisFeedbackStore(sync_client(redis_cluster.url),
                                                                                prefix)) for _ in range(2))
    replica_a.routed("call-1", Served("team:a", "cheap", vectors[prompt]))

    rated = replica_b.rate("call-1", "team:a", "down")

    assert rated.escalated_to == "balanced"
    assert replica_a.floor("team:a", vectors[paraphrase])[0] == "balanced"
    assert replica_a.floor("team:b", vectors[paraphrase]) is None


async def test_two_replicas_pool_quality_evidence_and_move_the_shift_once_on_a_cluster(
    redis_cluster: RedisClusterSet, prefix: str
):
    config = QualityConfig(enabled=True, target=0.95, loop=LOOP)
    stores = [RedisLoopStore(async_client(redis_cluster.url), prefix) for _ in range(2)]
    replicas = [QualityLoop(config, store, QualityMetrics.create(CollectorRegistry())) for store in stores]

    changes = []
    for number in range(12):  # the audits alternate between replicas; neither alone has 10
        for answer in range(10):
            replicas[number % 2].observe(answer < 6, 0)
        changes.append(await replicas[number % 2].record(outcome(6, 10), 0))
    state, history = await stores[0].state(), await stores[1].history()
    for store in stores:
        await store.client.aclose()

    made = [change for change in changes if change is not None]
    assert len(made) == 1 and made[0].direction == "tighten"
    assert state.version == 1 and state.shift == pytest.approx(made[0].new_shift)
    assert history[0]["new_shift"] == pytest.approx(state.shift)


def test_a_replica_without_the_folder_follows_the_live_router_through_the_cluster(
    redis_cluster: RedisClusterSet, prefix: str, tmp_path: Path
):
    publisher = ArtifactRegistry(tmp_path / "publisher", RedisMirror.from_url(redis_cluster.url, prefix))
    replica = ArtifactRegistry(tmp_path / "replica", RedisMirror.from_url(redis_cluster.url, prefix))
    publisher.publish(tiny_artifact(1.0))
    publisher.publish(tiny_artifact(2.0))

    assert replica.live_version() == "v0002" and replica.load("v0002").intercept == 2.0
    publisher.rollback()
    assert replica.live_version() == "v0001" and replica.load("v0001").intercept == 1.0
