"""Thumbs-down feedback: an answer rated down sends similar prompts of the same tenant one tier up."""

from __future__ import annotations

import pytest
import redis

from costroute_plugins.redis_clients import sync_client
from costroute_plugins.routing.feedback import FeedbackError, FeedbackService, FeedbackSettings, parse_rating
from costroute_plugins.routing.feedback_store import MemoryFeedbackStore, RedisFeedbackStore, Served
from tests.conftest import REDIS_URL

TIERS = ["cheap", "balanced", "premium"]
PROMPT = "What is the boiling point of water at sea level?"
PARAPHRASE = "At sea level, what's the boiling point of water?"
UNRELATED = "Write a haiku about autumn leaves."


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def vectors(embedder):
    return dict(zip((PROMPT, PARAPHRASE, UNRELATED), embedder.embed([PROMPT, PARAPHRASE, UNRELATED])))


def test_a_thumbs_down_escalates_a_paraphrase_for_that_tenant_only(vectors) -> None:
    service = FeedbackService(FeedbackSettings(), TIERS)
    service.routed("call-1", Served("team:a", "cheap", vectors[PROMPT]))
    service.answered("call-1", "chatcmpl-1", "cheap")
    assert service.floor("team:a", vectors[PARAPHRASE]) is None

    result = service.rate("chatcmpl-1", "team:a", "down")

    assert (result.served_tier, result.escalated_to) == ("cheap", "balanced")
    tier, similarity = service.floor("team:a", vectors[PARAPHRASE])
    assert tier == "balanced" and similarity >= 0.8
    assert service.floor("team:a", vectors[UNRELATED]) is None
    assert service.floor("team:b", vectors[PARAPHRASE]) is None


class CountingStore(MemoryFeedbackStore):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[str]] = []

    def remember(self, response_ids, served, ttl_s) -> None:
        self.writes.append(list(response_ids))
        super().remember(response_ids, served, ttl_s)


def test_an_answer_that_follows_is_stored_under_both_ids_in_one_write(vectors) -> None:
    store = CountingStore()
    service = FeedbackService(FeedbackSettings(), TIERS, store)
    service.routed("call-1", Served("team:a", "cheap", vectors[PROMPT]), answer_follows=True)
    assert store.writes == []  # nothing to rate before the answer exists

    service.answered("call-1", "chatcmpl-1", "balanced")  # a fallback moved it up

    assert store.writes == [["chatcmpl-1", "call-1"]]
    assert service.rate("call-1", "team:a", "up").served_tier == "balanced"
    assert service.rate("chatcmpl-1", "team:a", "down").escalated_to == "premium"


def test_only_the_tenant_that_got_the_answer_can_rate_it_and_only_while_it_is_remembered(vectors) -> None:
    clock = Clock()
    service = FeedbackService(FeedbackSettings(response_ttl_s=60), TIERS, MemoryFeedbackStore(clock=clock), clock)
    service.routed("call-1", Served("team:a", "cheap", vectors[PROMPT]))
    with pytest.raises(FeedbackError, match="no answer routed by costroute") as other_tenant:
        service.rate("call-1", "team:b", "down")
    assert other_tenant.value.status == 404
    clock.now += 61
    with pytest.raises(FeedbackError):
        service.rate("call-1", "team:a", "down")


def test_a_thumbs_up_or_a_premium_answer_changes_no_routing(vectors) -> None:
    service = FeedbackService(FeedbackSettings(), TIERS)
    service.routed("up", Served("team:a", "cheap", vectors[PROMPT]))
    service.routed("top", Served("team:a", "premium", vectors[PROMPT]))
    assert service.rate("up", "team:a", parse_rating(1)).escalated_to is None
    assert service.rate("top", "team:a", parse_rating("thumbs_down")).escalated_to is None
    assert service.floor("team:a", vectors[PARAPHRASE]) is None
    with pytest.raises(FeedbackError, match="rating: 'meh' is not a rating"):
        parse_rating("meh")


def test_escalations_are_shared_by_replicas_through_redis_and_bounded(vectors, redis_prefix) -> None:
    client = sync_client(REDIS_URL)  # any topology COSTROUTE_TEST_REDIS_URL names
    settings = FeedbackSettings(refresh_s=0.0, max_escalations=2)
    replica_a = FeedbackService(settings, TIERS, RedisFeedbackStore(client, redis_prefix))
    replica_b = FeedbackService(settings, TIERS, RedisFeedbackStore(client, redis_prefix))
    replica_a.routed("call-1", Served("team:a", "cheap", vectors[PROMPT]))

    replica_b.rate("call-1", "team:a", "down")  # the rating may reach any replica

    assert replica_a.floor("team:a", vectors[PARAPHRASE])[0] == "balanced"
    for i in range(3):
        replica_a.routed(f"more-{i}", Served("team:a", "cheap", vectors[UNRELATED]))
        replica_a.rate(f"more-{i}", "team:a", "down")
    assert client.zcard(f"{redis_prefix}{{esc}}:t:team:a") == 2
    assert replica_b.floor("team:a", vectors[PARAPHRASE]) is None  # the oldest escalation made way


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_one_tenants_thumbs_downs_never_push_out_another_tenants_escalation(vectors, redis_prefix, store) -> None:
    backend = RedisFeedbackStore(sync_client(REDIS_URL), redis_prefix) if store == "redis" \
        else MemoryFeedbackStore()
    service = FeedbackService(FeedbackSettings(refresh_s=0.0, max_escalations=2), TIERS, backend)
    service.routed("b-1", Served("team:b", "cheap", vectors[PROMPT]))
    service.rate("b-1", "team:b", "down")

    for i in range(10):  # team a floods its own escalations
        service.routed(f"a-{i}", Served("team:a", "cheap", vectors[UNRELATED]))
        service.rate(f"a-{i}", "team:a", "down")

    assert service.floor("team:b", vectors[PARAPHRASE])[0] == "balanced"


def test_an_unreachable_redis_fails_fast_once_then_routing_carries_on_without_it(vectors) -> None:
    from tests.harness import free_port

    service = FeedbackService.build(FeedbackSettings(refresh_s=1.0), TIERS, f"redis://127.0.0.1:{free_port()}/0")
    served = Served("team:a", "cheap", vectors[PROMPT])
    with pytest.raises(redis.ConnectionError):
        service.routed("call-1", served)
    with pytest.raises(redis.ConnectionError):
        service.floor("team:a", vectors[PARAPHRASE])
    # Within the back-off, requests neither wait on nor fail against the store.
    service.routed("call-2", served)
    assert service.floor("team:a", vectors[PARAPHRASE]) is None
