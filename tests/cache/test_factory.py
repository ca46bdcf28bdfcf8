"""The proxy's cache as the config describes it: entries on Redis when it is set, else in the process, kept
across a restart by the snapshot file."""

from __future__ import annotations

import logging

import numpy as np

from costroute_plugins.cache.factory import build_cache
from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.store import Entry, MemoryStore
from costroute_plugins.config import CacheConfig
from tests.cache.conftest import REDIS_URL


def _config(**values: object) -> CacheConfig:
    return CacheConfig.model_validate({"enabled": True, "learned_verifier": False} | values)


def test_with_redis_configured_the_entries_live_on_redis(words_embedder):
    cache = build_cache(_config(), REDIS_URL, words_embedder)

    assert isinstance(cache.store, RedisStore)


def test_without_redis_a_restart_finds_the_entries_of_the_snapshot(words_embedder, tmp_path):
    before = MemoryStore()
    before.put(Entry(id=before.new_id(), scope="s", text="Keep me", text_hash="h", response={"text": "kept"},
                     vector=np.ones(words_embedder.dim, dtype=np.float32), created_at=0.0))
    before.save(tmp_path / "cache")

    cache = build_cache(_config(snapshot_path=str(tmp_path / "cache")), None, words_embedder)

    assert isinstance(cache.store, MemoryStore) and len(cache.store) == 1
    assert cache.store.find_exact("s", "h") is not None


def test_an_unreadable_snapshot_is_logged_and_the_cache_starts_empty(words_embedder, tmp_path, caplog):
    (tmp_path / "cache.json").write_text('{"version": 1, "entries": [')  # cut off mid-write

    with caplog.at_level(logging.WARNING, logger="costroute"):
        cache = build_cache(_config(snapshot_path=str(tmp_path / "cache")), None, words_embedder)

    assert len(cache.store) == 0
    assert "unreadable" in caplog.text and "starting empty" in caplog.text
