"""Pair features shared by the rule verifier, the learned verifier and its training command.

Keeping them in one place means the artifact's feature list names exactly what serving computes. The hard
differences (numbers, negation, units, swapped entities, direction) are rules, not features: the learned model
only sees pairs that passed them, so as features they would be constant.

What the learned model sees, beyond the embedding similarity: how much of each prompt's *meaning-bearing* text
the other lacks (content words weighted by inverse document frequency, so "the" costs nothing and "mortgage"
a lot), and what kind of word differs: a question word ("why" vs "how"), a comparative or superlative ("best"
vs "worst"), a modal or tense ("can" vs "should", "did" vs "will"), a pronoun ("my" vs "your"), an entity the
other side never mentions, or only a spelling variant ("colour" vs "color").
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from costroute_plugins.cache.text import NEGATIONS, STOPWORDS, Facts, _stem, normalise

FEATURE_NAMES: tuple[str, ...] = (
    "similarity",
    "similarity_sq",
    "content_jaccard",
    "word_jaccard",
    "bigram_jaccard",
    "char_ratio",
    "idf_overlap",
    "idf_missing_min",
    "idf_missing_max",
    "idf_missing_top",
    "missing_content_min",
    "missing_content_max",
    "substituted",
    "spelling_variant",
    "length_ratio",
    "log_length",
    "entity_missing",
    "question_word_mismatch",
    "lead_word_mismatch",
    "comparative_differs",
    "modal_differs",
    "pronoun_differs",
    "function_words_differing",
    "similarity_x_idf_missing",
)
# The embedding scorer's logit (verifier.EmbeddingScorer), appended after FEATURE_NAMES by schema-3 verifiers.
EMBEDDING_FEATURE = "embedding_score"

# "Why do deer make sounds?" and "How do deer make sounds?" ask for different answers; "what" and "which"
# usually ask the same thing.
QUESTION_CLASSES: dict[str, str] = {
    "why": "why", "how": "how", "when": "when", "where": "where", "who": "who", "whom": "who", "whose": "who",
    "what": "what", "which": "what",
}
COMPARATIVES = frozenset(
    """more most less least better best worse worst greater greatest fewer fewest higher highest lower lowest
    bigger biggest smaller smallest larger largest faster fastest slower slowest cheaper cheapest easier easiest
    harder hardest top bottom first last""".split()
)
MODALS = frozenset(
    """can could should would will shall may might must do does did was were is are am has have had be been
    being""".split()
)
PRONOUNS = frozenset("i me my mine we us our you your yours he him his she her it its they them their".split())
FUNCTION_WORDS = STOPWORDS | NEGATIONS
# A template: at least TEMPLATE_SHARED_WORDS words, and TEMPLATE_SHARED_SHARE of the longer prompt, shared verbatim
# in runs of TEMPLATE_RUN or more, around one replaced passage holding TEMPLATE_FILL_WORDS or more content words on
# each side that the other prompt lacks (spelling variants aside).
TEMPLATE_SHARED_WORDS = 12
TEMPLATE_SHARED_SHARE = 0.5
TEMPLATE_RUN = 4
TEMPLATE_FILL_WORDS = 4
# The pairwise comparisons below (difflib) take time quadratic in the prompts' length: two 20 KB prompts took 4.5 s.
# Prompts up to this many characters are compared exactly as the shipped verifier was trained (its longest training
# prompt, in MRPC, has 2,891); the verifiers refuse longer pairs without comparing them, and the features read no
# further than this, so no caller can make a comparison run long (at this length: ~0.1 s for prose, ~1 s for a
# repetitive text). The cache rarely gets that far: it matches by meaning only prompts its embedder reads whole.
MAX_COMPARED_CHARS = 3000


def comparable(a: str, b: str) -> bool:
    """Whether both prompts are short enough to compare (see ``MAX_COMPARED_CHARS``)."""
    return max(len(a), len(b)) <= MAX_COMPARED_CHARS


@dataclass(frozen=True)
class Idf:
    """Inverse document frequency of content words: how much a word that only one prompt has matters.

    Learned from the training texts and shipped inside the verifier artifact; a word never seen there is
    treated as rare (``default``), which errs towards refusing.
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    default: float = 1.0

    def __call__(self, word: str) -> float:
        return self.weights.get(word, self.default)

    def mass(self, words: Iterable[str]) -> float:
        return sum(self(w) for w in words)

    @classmethod
    def fit(cls, texts: Iterable[str], min_df: int = 2) -> Idf:
        """``log((N + 1) / (df + 1)) + 1`` over distinct texts; words seen fewer than ``min_df`` times are left
        to ``default`` (the weight of a word seen once) to keep the artifact small."""
        documents = list(dict.fromkeys(texts))
        counts: Counter[str] = Counter()
        for text in documents:
            counts.update(Facts(text).content)
        n = len(documents)

        def weight(df: int) -> float:
            return round(math.log((n + 1) / (df + 1)) + 1.0, 4)

        return cls({w: weight(df) for w, df in sorted(counts.items()) if df >= min_df}, weight(1))

    def to_json(self) -> dict[str, object]:
        return {"default": self.default, "weights": dict(self.weights)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Idf:
        return cls({str(k): float(v) for k, v in dict(data["weights"]).items()}, float(data["default"]))


UNIFORM_IDF = Idf()


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
    def operators_differ(self) -> bool:
        """Another operator, or the same numbers in another order around one: "3 + 5" / "3 - 5", "5 - 3" / "3 - 5",
        "x^2" / "x*2", "a && b" / "a || b", "C++" / "C#" / "C" (the number rule compares sets, so only this sees
        order). Slashes and dashes between words count only when swapped, each prompt using one the other does not:
        "a / b" / "a - b" differ, "a movie/show" / "a movie" and "e-commerce in/for India" / "e-commerce in India"
        do not."""
        if (self.a.operators or self.b.operators) and self.a.expression != self.b.expression:
            return True
        prose_a, prose_b = set(self.a.prose_symbols), set(self.b.prose_symbols)
        return bool(prose_a - prose_b) and bool(prose_b - prose_a)

    @property
    def template_fill_differs(self) -> bool:
        """Most of a long text kept word for word while one passage of it is replaced by an unrelated one: the same
        question template asked about other scenarios, documents or records. Rewordings change words here and
        there; they do not keep most of the text verbatim and swap a whole passage on *both* sides.

        Prompts too long to compare (``MAX_COMPARED_CHARS``) count as differing: a rule that cannot look refuses."""
        if not comparable(self.a.text, self.b.text):
            return True
        a, b = self.a.words, self.b.words
        blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        anchors = [block for block in blocks if block.size >= TEMPLATE_RUN]
        shared = sum(block.size for block in anchors)
        if shared < max(TEMPLATE_SHARED_WORDS, TEMPLATE_SHARED_SHARE * max(len(a), len(b))):
            return False
        # The slots are what lies between the template's verbatim runs (and before the first, after the last).
        end_a = end_b = 0
        for block in anchors + [blocks[-1]]:
            slot_a = {_stem(w) for w in a[end_a : block.a] if w not in FUNCTION_WORDS} - self.b.content
            slot_b = {_stem(w) for w in b[end_b : block.b] if w not in FUNCTION_WORDS} - self.a.content
            fill_a = [w for w in slot_a if not any(_variant(w, x) for x in slot_b)]
            fill_b = [w for w in slot_b if not any(_variant(w, x) for x in slot_a)]
            if min(len(fill_a), len(fill_b)) >= TEMPLATE_FILL_WORDS:
                return True
            end_a, end_b = block.a + block.size, block.b + block.size
        return False

    @property
    def direction_reversed(self) -> bool:
        """Same content words in another order around a direction word: "A faster than B", "convert A to B"."""
        if not (self.a.directional and self.b.directional) or self.a.content != self.b.content:
            return False
        return self.a.content_sequence != self.b.content_sequence


def _jaccard(x: frozenset[str] | set, y: frozenset[str] | set) -> float:
    union = len(x | y)
    return len(x & y) / union if union else 1.0


def _bigrams(words: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(pairwise(words))


def _variant(x: str, y: str) -> bool:
    """An inflection ("learn"/"learning") or a spelling variant or typo ("colour"/"color") of one word.

    difflib's two cheap upper bounds of the ratio (by length, then by letters shared) settle most pairs before the
    quadratic comparison; the answer is the same as comparing every pair in full."""
    if min(len(x), len(y)) >= 4 and (x.startswith(y) or y.startswith(x)):
        return True
    if 2.0 * min(len(x), len(y)) / (len(x) + len(y)) < 0.8:
        return False
    matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return matcher.quick_ratio() >= 0.8 and matcher.ratio() >= 0.8


def _spelling_variants(only_a: frozenset[str], only_b: frozenset[str]) -> float:
    """Share of differing words that are a variant of a word on the other side: such a difference changes
    nothing, unlike a substituted word."""
    if not only_a or not only_b:
        return 0.0
    matched = sum(any(_variant(x, y) for y in only_b) for x in only_a)
    return matched / max(len(only_a), len(only_b))


def _classes(words: Iterable[str], table: Mapping[str, str]) -> set[str]:
    return {table[w] for w in words if w in table}


def pair_features(a: str, b: str, similarity: float, idf: Idf = UNIFORM_IDF) -> list[float]:
    """Values in the order of ``FEATURE_NAMES``; of a prompt longer than ``MAX_COMPARED_CHARS``, only that many
    characters are read (the verifiers refuse such pairs before asking)."""
    a, b = a[:MAX_COMPARED_CHARS], b[:MAX_COMPARED_CHARS]
    diff = PairDifference(Facts(a), Facts(b))
    only_a, only_b = diff.only_a, diff.only_b
    words_a, words_b = set(diff.a.words), set(diff.b.words)
    differing_words = words_a ^ words_b
    length_a, length_b = len(diff.a.words) or 1, len(diff.b.words) or 1
    mass_a, mass_b = idf.mass(diff.a.content) or 1.0, idf.mass(diff.b.content) or 1.0
    missing_a, missing_b = idf.mass(only_a) / mass_a, idf.mass(only_b) / mass_b
    shared = idf.mass(diff.a.content & diff.b.content)
    union = idf.mass(diff.a.content | diff.b.content)
    first_a, first_b = diff.a.words[:1], diff.b.words[:1]
    return [
        similarity,
        similarity * similarity,
        _jaccard(diff.a.content, diff.b.content),
        _jaccard(words_a, words_b),
        _jaccard(_bigrams(diff.a.words), _bigrams(diff.b.words)),
        difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio(),
        shared / union if union else 1.0,
        min(missing_a, missing_b),
        max(missing_a, missing_b),
        max((idf(w) for w in only_a | only_b), default=0.0),
        float(min(len(only_a), len(only_b))),
        float(max(len(only_a), len(only_b))),
        float(bool(only_a) and bool(only_b)),
        _spelling_variants(only_a, only_b),
        min(length_a, length_b) / max(length_a, length_b),
        math.log(min(length_a, length_b)),
        float(diff.entity_missing),
        float(_classes(words_a, QUESTION_CLASSES) != _classes(words_b, QUESTION_CLASSES)),
        float(first_a != first_b),
        float(bool(differing_words & COMPARATIVES)),
        float(bool(differing_words & MODALS)),
        float(bool(differing_words & PRONOUNS)),
        float(len(differing_words & FUNCTION_WORDS)),
        similarity * max(missing_a, missing_b),
    ]


def embedding_inputs(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rows of ``[u * v, |u - v|]`` for pairs of unit vectors: what the embedding scorer weighs, per dimension.

    The product says in which directions the two prompts agree, the distance in which they part; both are
    symmetric, so it does not matter which prompt was cached.
    """
    u = np.atleast_2d(np.asarray(u, dtype=np.float64))
    v = np.atleast_2d(np.asarray(v, dtype=np.float64))
    return np.hstack([u * v, np.abs(u - v)])
