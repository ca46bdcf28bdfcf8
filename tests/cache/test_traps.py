"""With default settings, no trap pair (same prompt but another number, entity, negation, unit, direction, dotted
version, or other scenarios in one long shared template) is ever served from the cache.
tests/data/cache_traps.jsonl is written by tests/cache/make_traps.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.semantic_cache import SemanticCache

TRAPS = Path(__file__).resolve().parents[1] / "data" / "cache_traps.jsonl"
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}]}


@pytest.fixture(scope="module")
def traps(minilm):
    rows = [json.loads(line) for line in TRAPS.read_text().splitlines()]
    vectors = minilm.embed([r["a"] for r in rows] + [r["b"] for r in rows])
    return rows, vectors[: len(rows)], vectors[len(rows) :]


def test_the_trap_set_covers_every_kind_of_answer_changing_difference(traps):
    rows, _, _ = traps
    kinds = {row["differs_in"] for row in rows}
    assert len(rows) >= 200 and {"number", "entity", "negation", "unit", "version", "template"} <= kinds
    assert not any(row["duplicate"] for row in rows)


def test_the_default_cache_serves_no_trap_in_either_direction(traps, minilm):
    rows, vectors_a, vectors_b = traps
    served = []
    for i, row in enumerate(rows):
        for stored, vs, asked, va in ((row["a"], vectors_a[i], row["b"], vectors_b[i]),
                                      (row["b"], vectors_b[i], row["a"], vectors_a[i])):
            cache = SemanticCache.from_config(SemanticCacheConfig(), minilm)
            assert cache.insert("traps", stored, ANSWER, vector=vs)
            hit = cache.lookup("traps", asked, vector=va)
            if hit is not None:
                served.append((row["differs_in"], stored, asked, round(hit.similarity, 3)))
    assert served == []


def test_plain_rewordings_are_still_served_so_the_zero_above_means_something(minilm):
    cache = SemanticCache.from_config(SemanticCacheConfig(), minilm)
    for text in ("How do I make pancakes from scratch?", "What are the health benefits of green tea?"):
        cache.insert("t", text, ANSWER)
    assert cache.lookup("t", "How can I make pancakes from scratch?") is not None
    assert cache.lookup("t", "What health benefits does green tea have?") is not None
