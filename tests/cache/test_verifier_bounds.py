"""Issue: the verifier's difflib comparisons take time quadratic in the prompts' length (two 20 KB prompts: 4.5 s a
candidate, up to four candidates a lookup). Prompts longer than cache.max_prompt_chars now bypass the cache, the
verifiers refuse pairs too long to compare without comparing them, and the features read a bounded prefix; for
prompts under the bound the features are exactly those the shipped verifier was trained on."""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.features import FEATURE_NAMES, MAX_COMPARED_CHARS, _variant, pair_features
from costroute_plugins.cache.scope import NotCacheable, scope_for
from costroute_plugins.cache.semantic_cache import SKIPPED_TOO_LONG, SemanticCache
from costroute_plugins.cache.verifier import DEFAULT_ARTIFACT, LearnedVerifier, RuleVerifier

ANSWER = {"choices": [{"message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}]}
# Feature vectors of tests/data/cache_pairs_sample.jsonl computed by the code the shipped artifact was trained with.
SAMPLE = Path(__file__).with_name("pair_features_sample.json")


def test_features_of_the_sample_pairs_are_those_the_shipped_verifier_was_trained_on():
    recorded = json.loads(SAMPLE.read_text())
    idf = LearnedVerifier.load(DEFAULT_ARTIFACT).idf
    assert recorded["feature_names"] == list(FEATURE_NAMES)
    for pair in recorded["pairs"]:
        features = pair_features(pair["b"], pair["a"], pair["similarity"], idf)
        # Equal but for the order in which Python sums a set of IDF weights (it depends on PYTHONHASHSEED).
        assert all(math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
                   for x, y in zip(features, pair["features"], strict=True)), pair["a"]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="abcdeilnorstuy", min_size=1, max_size=14), st.text(alphabet="abcdeilnorstuy", min_size=1,
                                                                            max_size=14))
def test_the_spelling_variant_shortcut_answers_as_the_full_comparison_does(x, y):
    full = (min(len(x), len(y)) >= 4 and (x.startswith(y) or y.startswith(x))) or \
        difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() >= 0.8
    assert _variant(x, y) == full


def _runbook(chars: int, ending: str) -> str:
    step = "Check the service status on host web{i} and restart the worker if the queue depth exceeds the limit. "
    text = "".join(step.format(i=i) for i in range(chars // len(step) + 1))
    return text[:chars] + ending


@pytest.mark.parametrize("verifier", [RuleVerifier(), LearnedVerifier.load(DEFAULT_ARTIFACT)], ids=["rules", "learned"])
def test_a_pair_too_long_to_compare_is_refused_without_comparing(verifier):
    long_a, long_b = _runbook(20_000, " Is it unsafe?"), _runbook(20_000, " Summarise it.")

    verdict = verifier.verify(long_a, long_b, 0.99)

    assert not verdict.accepted and "too long to compare" in verdict.reason


def test_features_of_a_long_pair_read_a_bounded_prefix():
    long_a, long_b = _runbook(20_000, " Is it unsafe?"), _runbook(20_000, " Summarise it.")
    prefix_a, prefix_b = long_a[:MAX_COMPARED_CHARS], long_b[:MAX_COMPARED_CHARS]
    assert pair_features(long_a, long_b, 0.99) == pair_features(prefix_a, prefix_b, 0.99)


def test_a_megabyte_prompt_is_not_cacheable_and_a_cache_asked_directly_skips_it(make_cache):
    huge = "Summarise this log. " + "ERROR disk full on /var/lib/data " * 32_000  # ~1 MB
    with pytest.raises(NotCacheable, match="prompt longer than cache.max_prompt_chars"):
        scope_for([{"role": "user", "content": huge}], tenant="t", model="m")

    cache = make_cache()
    assert cache.insert("t", huge, ANSWER) is False
    found = cache.find("t", huge)
    assert found.hit is None and found.skipped == SKIPPED_TOO_LONG


def test_a_prompt_padded_with_40_kb_of_whitespace_bypasses_the_cache(make_cache):
    padded = "What is DNS?" + " \n\t" * 13_500
    with pytest.raises(NotCacheable, match="max_prompt_chars"):
        scope_for([{"role": "user", "content": padded}], tenant="t", model="m")
    assert make_cache().find("t", padded).skipped == SKIPPED_TOO_LONG


def test_a_whitespace_padded_prompt_under_the_limit_is_a_quick_miss_not_a_long_comparison(minilm):
    cache = SemanticCache.from_config(SemanticCacheConfig(), minilm)
    cache.insert("t", "What is DNS?" + " " * 20_000, ANSWER)
    request = scope_for([{"role": "user", "content": "What is DNS ?" + "\n" * 20_000}], tenant="t", model="m")

    assert cache.lookup("t", request.text).kind == "exact"  # same prompt: served without comparing
    assert cache.lookup("t", "Explain DNS." + "\n" * 20_000) is None  # read whole, but too long to compare
