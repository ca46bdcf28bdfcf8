"""Pair features shared by the rule verifier, the learned verifier and its training command.

Keeping them in one place means the artifact's feature list names exactly what serving computes. The hard
differences (numbers, negation, units, swapped entities, direction) are rules, not features: the learned model
only sees pairs that passed them, so as features they would be constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from costroute_plugins.cache.text import Facts

FEATURE_NAMES: tuple[str, ...] = (
    "similarity",
    "similarity_sq",
    "content_jaccard",
    "word_jaccard",
    "bigram_jaccard",
    "missing_content_min",
    "missing_content_max",
    "substituted",
    "length_ratio",
    "entity_missing",
    "question_word_mismatch",
)

# "Why do deer make sounds?" and "How do deer make sounds?" ask for different answers.
QUESTION_WORDS = frozenset({"why", "how", "when", "where", "who", "what", "which"})


@dataclass(frozen=True)
class PairDifference:
    """How a query differs from a cached prompt, beyond what the embedding similarity says."""

    a: Facts
    b: Facts

    @property
    def numbers_differ(self) -> bool:
        return self.a.numbers != self.b.numbers

    @property
    def negation_differs(self) -> bool:
        return (self.a.negations % 2) != (self.b.negations % 2)

    @property
    def units_differ(self) -> bool:
        return self.a.units != self.b.units

    @property
    def entities_swapped(self) -> bool:
        """Each side names something the other does not mention at all: "Paris" vs "Rome"."""
        return bool(self._entities_only_in(self.a, self.b)) and bool(self._entities_only_in(self.b, self.a))

    @property
    def entity_missing(self) -> bool:
        return bool(self._entities_only_in(self.a, self.b)) or bool(self._entities_only_in(self.b, self.a))

    @staticmethod
    def _entities_only_in(x: Facts, y: Facts) -> frozenset[str]:
        """Entities of ``x`` that ``y`` does not mention in any case ("Paris" matches "paris")."""
        return x.entities - y.content - frozenset(y.words)

    @property
    def only_a(self) -> frozenset[str]:
        return self.a.content - self.b.content

    @property
    def only_b(self) -> frozenset[str]:
        return self.b.content - self.a.content

    @property
    def direction_reversed(self) -> bool:
        """Same content words in another order around a direction word: "A faster than B", "convert A to B"."""
        if not (self.a.directional and self.b.directional) or self.a.content != self.b.content:
            return False
        return self.a.content_sequence != self.b.content_sequence


def _jaccard(x: frozenset[str] | set[str], y: frozenset[str] | set[str]) -> float:
    union = len(x | y)
    return len(x & y) / union if union else 1.0


def _bigrams(words: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:]))


def pair_features(a: str, b: str, similarity: float) -> list[float]:
    """Values in the order of ``FEATURE_NAMES``."""
    diff = PairDifference(Facts(a), Facts(b))
    only_a, only_b = len(diff.only_a), len(diff.only_b)
    length_a, length_b = len(diff.a.words) or 1, len(diff.b.words) or 1
    return [
        similarity,
        similarity * similarity,
        _jaccard(diff.a.content, diff.b.content),
        _jaccard(set(diff.a.words), set(diff.b.words)),
        _jaccard(_bigrams(diff.a.words), _bigrams(diff.b.words)),
        float(min(only_a, only_b)),
        float(max(only_a, only_b)),
        float(only_a > 0 and only_b > 0),
        min(length_a, length_b) / max(length_a, length_b),
        float(diff.entity_missing),
        float(set(diff.a.words) & QUESTION_WORDS != set(diff.b.words) & QUESTION_WORDS),
    ]
