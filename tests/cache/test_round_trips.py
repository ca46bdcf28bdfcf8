"""On the shared Redis store a lookup is one round trip: the exact tier's pointer, the entry this replica expects
it to name and the vector search's candidates travel in one pipeline. Another replica's inserts reach this
replica's index through a follower thread, not through its lookups, and lookup counts ride along with the next
round trip or the follower's next turn."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from redis.connection import Connection

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.follower import Follower
from costroute_plugins.cache.redis_store import RedisStore
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.harness.processes import wait_until
from tests.cache.test_admin import BREAD, CAPITAL, request, store_answer


@pytest.fixture
def writer_and_follower(words_embedder, redis_client, cache_prefix) -> Iterator[tuple[SemanticCache, SemanticCache]]:
    """Two replicas on one Redis; the second follows the store's changes as the proxy's does."""
    config = SemanticCacheConfig.parse({"learned_verifier": False})
    writer, reader = (SemanticCache.from_config(config, words_embedder, RedisStore(redis_client, prefix=cache_prefix))
                      for _ in range(2))
    follower = Follower(reader).start()
    yield writer, reader
    follower.stop()


@pytest.fixture
def round_trips(monkeypatch) -> list[int]:
    """Requests this thread sends to Redis (a pipeline is one): the follower's own reads are not counted."""
    sent: list[int] = []
    me = threading.get_ident()
    original = Connection.send_packed_command

    def counted(self, command, check_health=True):
        if threading.get_ident() == me:
            sent.append(1)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent


def test_a_miss_an_exact_hit_and_a_semantic_hit_are_one_round_trip_each(writer_and_follower, round_trips,
                                                                        words_embedder):
    writer, reader = writer_and_follower
    store_answer(writer, CAPITAL, "team:a")
    wait_until(lambda: len(reader) == 1, 5, "the other replica indexing the new entry")

    def lookup(text: str, embedded: bool):
        asked = request(reader, text, "team:a")
        vector = words_embedder.embed([asked.text])[0] if embedded else None
        before = len(round_trips)
        found = reader.find(asked.scope, asked.text, vector)
        reader.store.count_lookup("team:a", found.hit is not None)
        return found.hit, len(round_trips) - before

    missed, miss_trips = lookup(BREAD, embedded=True)
    exact, exact_trips = lookup(CAPITAL, embedded=False)  # served without embedding
    semantic, semantic_trips = lookup("What is the capital city of France, please?", embedded=True)

    assert missed is None and exact.kind == "exact" and semantic.kind == "semantic"
    assert (miss_trips, exact_trips, semantic_trips) == (1, 1, 1)


def test_another_replica_s_answer_is_served_once_the_follower_has_it(writer_and_follower):
    writer, reader = writer_and_follower
    paraphrase = request(reader, "What is the capital city of France, please?", "team:a")
    assert reader.lookup(paraphrase.scope, paraphrase.text) is None

    store_answer(writer, CAPITAL, "team:a")

    wait_until(lambda: reader.lookup(paraphrase.scope, paraphrase.text) is not None, 5,
               "the paraphrase served from the other replica's entry")


def test_a_replica_s_lookup_counts_reach_the_store_within_the_follower_s_turn(writer_and_follower, redis_client,
                                                                               cache_prefix):
    _writer, reader = writer_and_follower
    reader.store.count_lookup("team:a", hit=True)
    reader.store.count_lookup("team:a", hit=False)

    wait_until(lambda: redis_client.hget(f"{cache_prefix}lookups", "team:a") == b"2", 5,
               "the counts written by the follower")
    assert redis_client.hget(f"{cache_prefix}hits", "team:a") == b"1"
