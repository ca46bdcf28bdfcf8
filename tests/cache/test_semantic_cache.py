"""The composed cache, as the proxy adapter uses it: insert an answer, look up a later prompt."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.config import SemanticCacheConfig, SemanticCacheConfigError
from costroute_plugins.cache.scope import scope_for

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}]}
QUESTION = "What is the capital city of France?"


def test_the_same_prompt_differently_typed_is_an_exact_hit(make_cache):
    cache = make_cache()
    assert cache.insert("t", QUESTION, ANSWER)
    hit = cache.lookup("t", "  what is the CAPITAL city of france ")
    assert hit.kind == "exact" and hit.response == ANSWER and hit.matched_text == QUESTION


def test_a_reworded_prompt_is_a_semantic_hit_with_its_similarity(make_cache):
    cache = make_cache()
    cache.insert("t", QUESTION, ANSWER)
    hit = cache.lookup("t", "What is the capital city of France please?")
    assert hit.kind == "semantic" and 0.85 <= hit.similarity < 1.0


def test_a_raised_similarity_floor_turns_a_semantic_hit_into_a_miss_but_keeps_exact_hits(make_cache):
    cache = make_cache()
    cache.insert("t", QUESTION, ANSWER)
    reworded = "What is the capital city of France please?"
    similarity = cache.lookup("t", reworded).similarity
    assert cache.find("t", reworded, min_similarity=similarity + 0.01).hit is None
    assert cache.find("t", reworded, min_similarity=0.5).hit is not None  # a floor never lowers the threshold
    assert cache.find("t", QUESTION, min_similarity=1.0).hit.kind == "exact"


def test_a_near_duplicate_with_another_entity_is_a_miss(make_cache):
    cache = make_cache()
    cache.insert("t", QUESTION, ANSWER)
    assert cache.lookup("t", "What is the capital city of Germany?") is None


def test_another_scope_never_sees_the_answer(make_cache):
    cache = make_cache()
    cache.insert("tenant-a", QUESTION, ANSWER)
    assert cache.lookup("tenant-b", QUESTION) is None


def test_a_scope_from_a_chat_request_carries_earlier_turns_into_admission(make_cache):
    cache = make_cache()
    request = scope_for(
        [{"role": "user", "content": "my email is ann@example.com"}, {"role": "assistant", "content": "noted"},
         {"role": "user", "content": QUESTION}],
        tenant="acme", model="auto",
    )
    assert cache.insert(request.scope, request.text, ANSWER) is False
    assert cache.lookup(request.scope, request.text) is None


def test_insert_reports_refusal_for_secrets_and_time_sensitive_prompts(make_cache):
    cache = make_cache()
    assert cache.insert("t", "Why is my key sk-abcdefghijklmnopqrstuvwxyz123 rejected?", ANSWER) is False
    assert cache.insert("t", "What is the bitcoin price right now?", ANSWER) is False
    assert len(cache) == 0


def test_an_entry_expires_after_its_ttl(make_cache, clock):
    cache = make_cache(default_ttl_s=60)
    cache.insert("t", QUESTION, ANSWER)
    cache.insert("t", "How do I bake sourdough bread?", ANSWER, ttl=5)
    clock.advance(10)
    assert cache.lookup("t", "How do I bake sourdough bread?") is None
    assert cache.lookup("t", QUESTION) is not None
    clock.advance(60)
    assert cache.lookup("t", QUESTION) is None


def test_the_cache_stays_within_max_entries_and_forgets_evicted_vectors(make_cache):
    cache = make_cache(max_entries=2)
    for text in ("How do I bake sourdough bread?", "How do I grow tomatoes?", "How do I tune a guitar?"):
        cache.insert("t", text, ANSWER)
    assert len(cache) == 2 and len(cache.store) == 2
    assert cache.lookup("t", "How do I bake sourdough bread?") is None


def test_inserting_the_same_prompt_again_replaces_the_answer(make_cache):
    cache = make_cache()
    cache.insert("t", QUESTION, ANSWER)
    newer = {"choices": [{"message": {"content": "Paris, France"}, "finish_reason": "stop"}]}
    cache.insert("t", QUESTION.lower(), newer)
    assert cache.lookup("t", QUESTION).response == newer and len(cache) == 1


def test_a_precomputed_vector_is_used_instead_of_embedding(make_cache, words_embedder):
    cache = make_cache()
    vector = words_embedder.embed([QUESTION])[0]
    cache.insert("t", QUESTION, ANSWER, vector=vector)
    hit = cache.lookup("t", "Which city is the capital of France?", vector=vector)
    assert hit is not None and hit.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_non_json_response_is_refused_with_the_fix(make_cache):
    with pytest.raises(ValueError, match="JSON-serialisable"):
        make_cache().insert("t", QUESTION, {"body": object()})


def test_a_bad_setting_names_the_key_and_the_fix():
    with pytest.raises(SemanticCacheConfigError) as error:
        SemanticCacheConfig.parse({"similarity_threshold": 1.5, "max_entires": 10, "verifier_rules": ["colour"]})
    message = str(error.value)
    assert "cache.similarity_threshold: Input should be less than or equal to 1" in message
    assert "cache.max_entires: unknown key. Fix:" in message and "max_entries" in message
    assert "cache.verifier_rules: unknown rules ['colour']" in message


def test_defaults_are_the_precision_first_operating_point():
    config = SemanticCacheConfig()
    assert config.learned_verifier and set(config.verifier_rules) >= {"number", "entity", "negation", "unit"}
    assert not (config.cache_errors or config.cache_truncated or config.cache_tool_calls or config.cache_sampled)



def test_a_cache_built_without_rebuild_indexes_the_store_only_when_asked(words_embedder):
    from costroute_plugins.cache.semantic_cache import SemanticCache

    config = SemanticCacheConfig(learned_verifier=False)
    first = SemanticCache.from_config(config, words_embedder)
    first.insert("t", QUESTION, ANSWER)
    second = SemanticCache.from_config(config, words_embedder, first.store, rebuild=False)
    assert len(second) == 0
    assert second.rebuild() == 1 and second.lookup("t", "What is the capital city of France please?") is not None
