"""Fixtures of the semantic cache tests: the real embedding model (loaded once), a fast stand-in, a clock,
and an isolated key prefix on the real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.embedding import Embedder, SentenceTransformerEmbedder

REDIS_URL = os.environ.get("COSTROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class BagOfWordsEmbedder(Embedder):
    """Hashes words into a unit vector: prompts sharing most words are similar. Fast and deterministic."""

    dim = 384
    name = "all-MiniLM-L6-v2"  # so the shipped verifier artifact accepts it in unit tests

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def minilm() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once per session (a few seconds)."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def words_embedder() -> BagOfWordsEmbedder:
    return BagOfWordsEmbedder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_cache(words_embedder: BagOfWordsEmbedder, clock: FakeClock):
    """A cache on the fast embedder with rules only: the learned verifier was trained on all-MiniLM-L6-v2
    similarities, which bag-of-words vectors do not resemble (test_traps.py covers the full default)."""

    def build(**overrides: object) -> SemanticCache:
        config = SemanticCacheConfig.parse({"learned_verifier": False} | overrides)
        return SemanticCache.from_config(config, words_embedder, clock=clock)

    return build


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield client
    client.close()


@pytest.fixture
def cache_prefix(redis_client) -> Iterator[str]:
    """A key prefix unique to the test; every key under it is deleted afterwards."""
    prefix = f"costroute-test:cache:{uuid.uuid4().hex[:12]}:"
    yield prefix
    for key in redis_client.scan_iter(match=f"{prefix}*", count=1000):
        redis_client.delete(key)
