"""One ``SemanticCache`` per proxy process, on Redis when configured so every replica shares the entries."""

from __future__ import annotations

import logging
from pathlib import Path

from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.store import EntryStore, MemoryStore
from costroute_plugins.config import CacheConfig
from costroute_plugins.embedding import Embedder
from costroute_plugins.redis_clients import sync_client

log = logging.getLogger("costroute")


def build_store(config: CacheConfig, redis_url: str | None) -> EntryStore:
    """Entries on Redis when ``redis_url`` is set (connected lazily: a Redis that is down at start only degrades
    lookups to bypass until it answers). Else in this process, restored from ``snapshot_path`` when a snapshot is
    there; an unreadable snapshot is logged and the cache starts empty rather than keeping the proxy down."""
    if redis_url:
        return RedisStore(sync_client(redis_url), prefix=config.key_prefix, max_entries=config.max_entries)
    store = MemoryStore(config.max_entries)
    if config.snapshot_path and Path(config.snapshot_path).with_suffix(".json").exists():
        try:
            log.info("semantic cache: %d entries restored from %s", store.load(config.snapshot_path),
                     config.snapshot_path)
        except (OSError, ValueError, KeyError) as error:
            log.warning("semantic cache: snapshot %s unreadable (%s); starting empty", config.snapshot_path, error)
            store = MemoryStore(config.max_entries)
    return store


def build_cache(config: CacheConfig, redis_url: str | None, embedder: Embedder) -> SemanticCache:
    """The cache on ``build_store``, its index not built yet (the caller builds it once the store answers).
    Raises ``ArtifactError`` when the learned verifier's artifact cannot be used."""
    return SemanticCache.from_config(config, embedder, build_store(config, redis_url), rebuild=False)
