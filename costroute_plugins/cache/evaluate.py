"""Pairwise precision/recall of the full cache decision (exact tier, threshold, verifier, admission).

Every pair goes through a real ``SemanticCache``: its ``a`` is inserted, its ``b`` looked up. One pass at the
lowest threshold of the sweep gives every threshold's result, because candidates are tried from the most
similar down and the verifier does not depend on the threshold: a hit at similarity ``s`` is a hit at every
threshold up to ``s``, and a miss stays a miss at higher thresholds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.pairs import Pair
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.text import normalise
from costroute_plugins.embedding import Embedder

SCOPE = "eval"
RESPONSE_KEY = "pair"


@dataclass(frozen=True)
class Outcome:
    """Per pair: similarity of the served hit (None for a miss), whether serving it was right, its kind."""

    similarity: float | None
    correct: bool
    kind: str | None


def _response(pair_index: int) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": "answer"}, "finish_reason": "stop"}],
            RESPONSE_KEY: pair_index}


def run_pairwise(
    pairs: Sequence[Pair], vectors_a: np.ndarray, vectors_b: np.ndarray, make_cache: Callable[[], SemanticCache]
) -> list[Outcome]:
    """Each ``a`` alone in an empty cache; a hit is right when the pair is a duplicate."""
    outcomes = []
    for i, pair in enumerate(pairs):
        cache = make_cache()
        cache.insert(SCOPE, pair.a, _response(i), vector=vectors_a[i])
        hit = cache.lookup(SCOPE, pair.b, vector=vectors_b[i])
        outcomes.append(
            Outcome(hit.similarity if hit else None, bool(hit and pair.duplicate), hit.kind if hit else None)
        )
    return outcomes


def run_with_distractors(
    pairs: Sequence[Pair], vectors_a: np.ndarray, vectors_b: np.ndarray, cache: SemanticCache,
    progress: Callable[[int], None] = lambda _n: None,
) -> list[Outcome]:
    """All ``a`` in one cache; a hit is right only when it serves the pair's own ``a`` and the pair is a duplicate."""
    for i, pair in enumerate(pairs):
        cache.insert(SCOPE, pair.a, _response(i), vector=vectors_a[i])
    outcomes = []
    for i, pair in enumerate(pairs):
        hit = cache.lookup(SCOPE, pair.b, vector=vectors_b[i])
        own = hit is not None and normalise(hit.matched_text) == normalise(pair.a)
        outcomes.append(
            Outcome(hit.similarity if hit else None, bool(own and pair.duplicate), hit.kind if hit else None)
        )
        progress(1)
    return outcomes


def summarise(pairs: Sequence[Pair], outcomes: Sequence[Outcome], threshold: float) -> dict[str, object]:
    """Precision = right hits / hits; recall = duplicate pairs rightly hit / duplicate pairs (DATA.md)."""
    hits = [o for o in outcomes if o.similarity is not None and o.similarity >= threshold]
    right = sum(o.correct for o in hits)
    duplicates = sum(p.duplicate for p in pairs)
    return {
        "threshold": round(threshold, 4),
        "hits": len(hits),
        "exact_hits": sum(o.kind == "exact" for o in hits),
        "correct_hits": right,
        "precision": round(right / len(hits), 4) if hits else None,
        "recall": round(right / duplicates, 4) if duplicates else None,
    }


def evaluation_config(base: SemanticCacheConfig, lowest: float) -> SemanticCacheConfig:
    """The base settings with the threshold lowered to the sweep's lowest value (see the module docstring)."""
    return SemanticCacheConfig.model_validate(base.model_dump() | {"similarity_threshold": lowest})


def embed_pairs(embedder: Embedder, pairs: Sequence[Pair], progress: bool) -> tuple[np.ndarray, np.ndarray]:
    vectors = embedder.embed([p.a for p in pairs] + [p.b for p in pairs], progress=progress)
    return vectors[: len(pairs)], vectors[len(pairs) :]
