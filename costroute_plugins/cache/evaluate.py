"""Precision/recall of the full cache decision (exact tier, threshold, verifier, admission) on labelled pairs.

Pairwise, each pair goes through its own real ``SemanticCache``: its ``a`` is inserted, its ``b`` looked up, and a
hit is right when the pair is a duplicate. With distractors every ``a`` of the file shares one cache, so a ``b``
may be served another pair's ``a``. Such a hit is judged on the two texts, not on which row they came from:
QQP repeats a question across rows, and serving a question's labelled duplicate from another row is a right
answer. Each hit is classed (``classify``) as

- ``identical``: the served entry's text equals the query in ``text.exact_form`` (right);
- ``duplicate``: some pair of the file labels the two texts duplicates, in either order (right);
- ``non-duplicate``: some pair labels them non-duplicates (wrong);
- ``unlabelled``: no pair says; reported apart, with precision bounds counting these wrong and right.

One pass at the lowest threshold of the sweep gives every threshold's result, because candidates are tried from
the most similar down and the verifier does not depend on the threshold: a hit at similarity ``s`` is a hit at
every threshold up to ``s``, and a miss stays a miss at higher thresholds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.pairs import Pair
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.cache.text import exact_form
from costroute_plugins.embedding import Embedder

SCOPE = "eval"
RESPONSE_KEY = "pair"

Verdict = Literal["identical", "duplicate", "non-duplicate", "unlabelled"]
RIGHT: frozenset[Verdict] = frozenset({"identical", "duplicate"})
# Two texts' exact forms, sorted, so a label applies whichever of them was asked and whichever served.
TextPair = tuple[str, str]


@dataclass(frozen=True)
class LookupVerdict:
    """Per looked-up ``b``: similarity of the served hit, how serving it is judged and its kind (None for a miss)."""

    similarity: float | None
    verdict: Verdict | None
    kind: str | None


MISS = LookupVerdict(None, None, None)


def _text_pair(first: str, second: str) -> TextPair:
    low, high = sorted((exact_form(first), exact_form(second)))
    return low, high


def label_texts(pairs: Sequence[Pair]) -> dict[TextPair, bool]:
    """Whether the evaluated pairs call two texts duplicates, for every pair of texts some row labels (a ``--limit``
    or a part of a file is judged by its own rows only).

    Rows that label the same two texts both ways are settled by majority, and a tie counts as non-duplicate: a
    contested hit should not raise the precision the cache is tuned to.
    """
    votes: Counter[TextPair] = Counter()
    for pair in pairs:
        votes[_text_pair(pair.a, pair.b)] += 1 if pair.duplicate else -1
    return {texts: vote > 0 for texts, vote in votes.items()}


def classify(query: str, served: str, labels: Mapping[TextPair, bool]) -> Verdict:
    """How serving the entry prompted by ``served`` to ``query`` is judged (the classes in the module docstring)."""
    if exact_form(query) == exact_form(served):
        return "identical"
    label = labels.get(_text_pair(query, served))
    if label is None:
        return "unlabelled"
    return "duplicate" if label else "non-duplicate"


def _response(pair_index: int) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": "answer"}, "finish_reason": "stop"}],
            RESPONSE_KEY: pair_index}


def run_pairwise(
    pairs: Sequence[Pair], vectors_a: np.ndarray, vectors_b: np.ndarray, make_cache: Callable[[], SemanticCache]
) -> list[LookupVerdict]:
    """Each ``a`` alone in an empty cache; a hit is right when the pair is a duplicate."""
    outcomes = []
    for i, pair in enumerate(pairs):
        cache = make_cache()
        cache.insert(SCOPE, pair.a, _response(i), vector=vectors_a[i])
        hit = cache.lookup(SCOPE, pair.b, vector=vectors_b[i])
        verdict: Verdict = "duplicate" if pair.duplicate else "non-duplicate"
        outcomes.append(LookupVerdict(hit.similarity, verdict, hit.kind) if hit else MISS)
    return outcomes


def run_with_distractors(
    pairs: Sequence[Pair], vectors_a: np.ndarray, vectors_b: np.ndarray, cache: SemanticCache,
    progress: Callable[[int], None] = lambda _n: None,
) -> list[LookupVerdict]:
    """All ``a`` in one cache, each ``b`` looked up; a hit is judged by ``classify`` against every row's label."""
    labels = label_texts(pairs)
    for i, pair in enumerate(pairs):
        cache.insert(SCOPE, pair.a, _response(i), vector=vectors_a[i])
    outcomes = []
    for i, pair in enumerate(pairs):
        hit = cache.lookup(SCOPE, pair.b, vector=vectors_b[i])
        outcomes.append(
            LookupVerdict(hit.similarity, classify(pair.b, hit.matched_text, labels), hit.kind)
            if hit else MISS
        )
        progress(1)
    return outcomes


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise(pairs: Sequence[Pair], outcomes: Sequence[LookupVerdict], threshold: float) -> dict[str, object]:
    """The hits at ``threshold`` by class, and the precision and recall figures.

    In the shared index every pair's ``a`` is in one cache and each ``b`` is looked up: a hit is right when the
    served entry's text equals the query after normalisation or a pair of the file labels the two duplicates,
    wrong when a pair labels them non-duplicates, unlabelled otherwise. Precision is over labelled hits, right / (right + wrong); ``precision_lower`` counts unlabelled hits wrong and
    ``precision_upper`` right. Recall = duplicate pairs whose ``b`` got a right hit / duplicate pairs. Pairwise,
    every hit is labelled by its own pair, so there are no identical or unlabelled classes and the bounds equal
    the precision.
    """
    hits = [(p, o) for p, o in zip(pairs, outcomes) if o.similarity is not None and o.similarity >= threshold]
    classes = Counter(o.verdict for _, o in hits)
    right = classes["identical"] + classes["duplicate"]
    wrong, unlabelled = classes["non-duplicate"], classes["unlabelled"]
    return {
        "threshold": round(threshold, 4),
        "hits": len(hits),
        "exact_hits": sum(o.kind == "exact" for _, o in hits),
        "correct_hits": right,
        "identical_hits": classes["identical"],
        "duplicate_hits": classes["duplicate"],
        "wrong_hits": wrong,
        "unlabelled_hits": unlabelled,
        "precision": _ratio(right, right + wrong),
        "precision_lower": _ratio(right, len(hits)),
        "precision_upper": _ratio(right + unlabelled, len(hits)),
        "recall": _ratio(sum(p.duplicate and o.verdict in RIGHT for p, o in hits), sum(p.duplicate for p in pairs)),
    }


def evaluation_config(base: SemanticCacheConfig, lowest: float) -> SemanticCacheConfig:
    """The base settings with the threshold lowered to the sweep's lowest value (see the module docstring)."""
    return SemanticCacheConfig.model_validate(base.model_dump() | {"similarity_threshold": lowest})


def embed_pairs(embedder: Embedder, pairs: Sequence[Pair], progress: bool) -> tuple[np.ndarray, np.ndarray]:
    vectors = embedder.embed([p.a for p in pairs] + [p.b for p in pairs], progress=progress)
    return vectors[: len(pairs)], vectors[len(pairs) :]
