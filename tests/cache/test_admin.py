"""An operator flushes the cache, purges one tenant, deletes one prompt and reads usage per tenant; on the real
Redis every replica stops serving what was removed, and in one process the in-memory store does the same."""

from __future__ import annotations

import pytest

from costroute_plugins.cache import admin
from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.scope import CacheableRequest
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.store import MemoryStore

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}]}
CAPITAL = "What is the capital city of France?"
BREAD = "How do I bake sourdough bread at home?"


def request(cache: SemanticCache, text: str, tenant: str, model: str = "auto") -> CacheableRequest:
    return cache.scope_for([{"role": "user", "content": text}], tenant=tenant, model=model)


def store_answer(cache: SemanticCache, text: str, tenant: str, model: str = "auto") -> None:
    asked = request(cache, text, tenant, model)
    assert cache.insert(asked.scope, asked.text, ANSWER)


def served(cache: SemanticCache, text: str, tenant: str, model: str = "auto") -> bool:
    asked = request(cache, text, tenant, model)
    return cache.lookup(asked.scope, asked.text) is not None


@pytest.fixture(params=["memory", "redis"])
def replicas(request, words_embedder, redis_client, cache_prefix) -> tuple[SemanticCache, SemanticCache]:
    """Two caches: on Redis, two replicas sharing it; in memory, the same one twice (no other replica exists)."""
    config = SemanticCacheConfig.parse({"learned_verifier": False})
    if request.param == "memory":
        only = SemanticCache.from_config(config, words_embedder, MemoryStore())
        return only, only
    first, second = (SemanticCache.from_config(config, words_embedder, RedisStore(redis_client, prefix=cache_prefix))
                     for _ in range(2))
    return first, second


def test_purging_a_tenant_removes_it_on_every_replica_and_keeps_the_others(replicas):
    first, second = replicas
    store_answer(first, CAPITAL, "team:a")
    store_answer(first, CAPITAL, "team:a", model="cheap")  # another scope of the same tenant
    store_answer(first, CAPITAL, "team:b")
    assert served(second, CAPITAL + " please", "team:a")  # the other replica has indexed it

    assert admin.purge_tenant(first, "team:a") == 2

    for replica in (first, second):
        assert not served(replica, CAPITAL, "team:a") and not served(replica, CAPITAL, "team:a", model="cheap")
        assert not served(replica, CAPITAL + " please", "team:a")
        assert served(replica, CAPITAL, "team:b")


def test_flushing_empties_every_replica_and_new_answers_are_cached_again(replicas):
    first, second = replicas
    store_answer(first, CAPITAL, "team:a")
    store_answer(second, BREAD, "team:b")

    assert admin.flush(second) == 2

    for replica in (first, second):
        assert not served(replica, CAPITAL, "team:a") and not served(replica, BREAD + " please", "team:b")
        assert len(replica) == 0
    store_answer(first, CAPITAL, "team:a")
    assert served(second, CAPITAL + " please", "team:a")
    assert admin.stats(second)["total"]["entries"] == 1


def test_deleting_a_prompt_removes_what_it_would_hit_exactly_and_nothing_else(replicas):
    first, second = replicas
    store_answer(first, CAPITAL, "team:a")
    store_answer(first, BREAD, "team:a")
    store_answer(first, CAPITAL, "team:b")

    assert admin.delete_prompt(second, "team:a", "what is the capital city of France") == 1  # same after normalising

    for replica in (first, second):
        assert not served(replica, CAPITAL, "team:a")
        assert served(replica, BREAD, "team:a") and served(replica, CAPITAL, "team:b")
    assert admin.delete_prompt(first, "team:a", "Who painted the Mona Lisa?") == 0


def test_stats_count_entries_bytes_and_hit_rate_per_tenant(replicas):
    first, second = replicas
    store_answer(first, CAPITAL, "team:a")
    store_answer(first, BREAD, "team:a")
    store_answer(first, CAPITAL, "team:b")
    first.store.count_lookup("team:a", hit=False)
    second.store.count_lookup("team:a", hit=True)
    first.store.flush_counts()  # a replica writes its counts with its next round trip or its follower's turn

    stats = admin.stats(second)  # the replica asked writes its own first

    a, b = stats["tenants"]["team:a"], stats["tenants"]["team:b"]
    assert (a["entries"], b["entries"], stats["total"]["entries"]) == (2, 1, 3)
    assert a["bytes"] > b["bytes"] > 384 * 4  # prompt, answer and a 384-float vector each
    assert stats["total"]["bytes"] == a["bytes"] + b["bytes"]
    assert (a["lookups"], a["hits"], a["hit_rate"]) == (2, 1, 0.5)
    assert (b["lookups"], b["hit_rate"]) == (0, None)


def test_entries_keep_their_tenant_in_a_snapshot(tmp_path, words_embedder):
    config = SemanticCacheConfig.parse({"learned_verifier": False})
    store = MemoryStore()
    store_answer(SemanticCache.from_config(config, words_embedder, store), CAPITAL, "team:a")
    store.save(tmp_path / "snapshot")

    restored = MemoryStore()
    restored.load(tmp_path / "snapshot")

    assert [entry.tenant for entry in restored.entries()] == ["team:a"]
