"""Entries shared through Redis: TTL enforced by Redis, and every replica's index kept in sync."""

from __future__ import annotations

import time

import numpy as np

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.store import Entry

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}]}


def _replica(redis_client, prefix, embedder, **overrides) -> SemanticCache:
    config = SemanticCacheConfig.parse({"learned_verifier": False} | overrides)  # bag-of-words vectors
    store = RedisStore(redis_client, prefix=prefix, max_entries=config.max_entries)
    return SemanticCache.from_config(config, embedder, store)


def test_redis_expires_an_entry_on_its_own(redis_client, cache_prefix):
    store = RedisStore(redis_client, prefix=cache_prefix)
    entry = Entry(id=store.new_id(), scope="s", text="q", text_hash="h", response={"a": 1},
                  vector=np.ones(4, dtype=np.float32), created_at=time.time(), expires_at=time.time() + 0.3)
    store.put(entry)
    assert 0 < redis_client.pttl(f"{cache_prefix}e:{entry.id}") <= 300
    assert store.find_exact("s", "h") == entry.id
    time.sleep(0.4)
    assert store.get(entry.id) is None and store.find_exact("s", "h") is None


def test_an_answer_cached_by_one_replica_is_served_by_another(redis_client, cache_prefix, words_embedder):
    writer = _replica(redis_client, cache_prefix, words_embedder)
    reader = _replica(redis_client, cache_prefix, words_embedder)
    assert writer.insert("tenant-a", "What is the capital city of France?", ANSWER)
    hit = reader.lookup("tenant-a", "what is the capital city of france")
    assert hit is not None and hit.kind == "exact" and hit.response == ANSWER
    semantic = reader.lookup("tenant-a", "What is the capital city of France please?")
    assert semantic is not None and semantic.kind == "semantic"


def test_a_restarted_replica_rebuilds_its_index_from_redis(redis_client, cache_prefix, words_embedder):
    first = _replica(redis_client, cache_prefix, words_embedder)
    first.insert("t", "How do I bake sourdough bread at home?", ANSWER)
    restarted = _replica(redis_client, cache_prefix, words_embedder)
    assert len(restarted) == 1
    assert restarted.lookup("t", "How do I bake sourdough bread at home please?") is not None


def test_eviction_in_one_replica_reaches_the_others(redis_client, cache_prefix, words_embedder):
    writer = _replica(redis_client, cache_prefix, words_embedder, max_entries=1)
    reader = _replica(redis_client, cache_prefix, words_embedder, max_entries=1)
    writer.insert("t", "How do I bake sourdough bread at home?", ANSWER)
    reader.sync()
    writer.insert("t", "How do I grow tomatoes on a balcony?", ANSWER)
    reader.sync()
    assert len(reader) == 1
    assert reader.lookup("t", "How do I bake sourdough bread at home please?") is None
    assert len(RedisStore(redis_client, prefix=cache_prefix)) == 1
