"""Features shared, byte for byte, by training and serving: structural counts and hashed TF-IDF n-grams.

Hashing (instead of a stored vocabulary) keeps the artifact a fixed size and lets an unseen word still land in
a bucket; the hash is a fixed polynomial over code points computed with numpy (wrapping 64-bit arithmetic), so
it is identical across processes and platforms (Python's ``hash`` is salted per process and would not be).
Texts are clipped to a head and a tail so the cost of a decision stays bounded however long the prompt is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

from costroute_plugins.messages import Message, content_text

_BASE = np.uint64(1000003)
_BASE_INVERSE = np.uint64(pow(1000003, -1, 1 << 64))
_NGRAM_SALT = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

_WORD = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)]|[A-Ha-h][.)])\s+", re.MULTILINE)
_CHOICE = re.compile(r"^\s*[A-D][.)]\s", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_CODE_LINE_END = re.compile(r"[{};]\s*$", re.MULTILINE)

# Keyword sets are matched against the request's word list (one tokenisation, set lookups), which keeps
# the structural pass well under a millisecond even for long prompts.
_CODE_WORDS = frozenset("def class function return import const var let public void select include lambda async "
                        "await struct printf println console python javascript typescript java sql rust golang "
                        "regex api bug compile".split())
_MATH_WORDS = frozenset("solve calculate compute equation integral derivative probability prove proof theorem "
                        "matrix sum product percent ratio".split())
_REASONING_WORDS = frozenset("explain why reason reasoning analyze analyse compare derive justify evaluate design "
                             "optimize optimise tradeoff tradeoffs implications critique plan".split())
_CREATIVE_WORDS = frozenset("write compose draft story poem essay email letter rewrite summarize summarise "
                            "brainstorm".split())
_SIMPLE_OPENINGS = ("what is", "what's", "who is", "who was", "when ", "where ", "define", "hi", "hello", "thank")
_QUESTION_WORDS = frozenset("what which who when where why how".split())
_MATH_CHARS = np.array([ord(c) for c in "=+-*/^<>$%"], dtype=np.uint32)

#: Names of the structural features, in vector order (recorded in the artifact to detect a mismatch).
STRUCTURAL_NAMES: tuple[str, ...] = (
    "log_chars", "log_words", "log_context_chars", "user_turns", "has_system", "sentences", "avg_word_len",
    "numbers", "digit_ratio", "code_hits", "code_fence", "math_hits", "math_chars", "latex", "list_items",
    "choices", "question_marks", "question_word", "why_how", "reasoning_hits", "step_by_step", "creative_hits",
    "simple_opening", "non_ascii_ratio", "upper_ratio", "newlines",
)


def clip(text: str, limit: int) -> str:
    """Head and tail of a long text: the ask is usually at one end, and this bounds per-request work."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    return text[:head] + "\n" + text[-(limit - head):]


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def structural_features(messages: Sequence[Message], text: str, limit: int) -> np.ndarray:
    """Counts that describe the request's shape (length, turns, code, math, lists, question type, script).

    They generalise across domains better than words do, which matters because held-back traffic (chat,
    coding) looks nothing like the multiple-choice and word-problem training sets.
    """
    text = clip(text, limit)
    lowered = text.lower()
    words = _WORD.findall(lowered)
    codes = _codes(text)
    n_chars = max(len(text), 1)
    context_chars = sum(len(content_text(m.get("content"))) for m in messages)
    opening = lowered.lstrip()[:40]
    first_word = words[0] if words else ""

    def hits(vocabulary: frozenset[str]) -> float:
        return math.log1p(sum(1 for word in words if word in vocabulary))

    values = (
        math.log1p(len(text)),
        math.log1p(len(words)),
        math.log1p(context_chars),
        math.log1p(sum(1 for m in messages if m.get("role") == "user")),
        float(any(m.get("role") == "system" for m in messages)),
        math.log1p(len(_SENTENCE_END.findall(text))),
        sum(map(len, words)) / max(len(words), 1) / 10.0,
        math.log1p(len(_NUMBER.findall(text))),
        float(np.count_nonzero((codes >= 48) & (codes <= 57))) / n_chars,
        hits(_CODE_WORDS) + math.log1p(len(_CODE_LINE_END.findall(text))),
        float("```" in text),
        hits(_MATH_WORDS),
        math.log1p(np.count_nonzero(np.isin(codes, _MATH_CHARS))),
        float("\\" in text and ("$" in text or "\\(" in text)),
        math.log1p(len(_LIST_ITEM.findall(text))),
        float(len(_CHOICE.findall(text)) >= 2),
        math.log1p(text.count("?")),
        float(first_word in _QUESTION_WORDS),
        float(first_word in ("why", "how")),
        hits(_REASONING_WORDS),
        float("step by step" in lowered or "step-by-step" in lowered),
        hits(_CREATIVE_WORDS),
        float(opening.startswith(_SIMPLE_OPENINGS)),
        float(np.count_nonzero(codes > 127)) / n_chars,
        float(np.count_nonzero((codes >= 65) & (codes <= 90))) / n_chars,
        math.log1p(text.count("\n")),
    )
    return np.array(values, dtype=np.float64)


@dataclass(frozen=True)
class HashingConfig:
    """Shape of the hashed TF-IDF space; stored in the artifact so serving rebuilds the same buckets."""

    word_buckets: int = 1 << 16
    char_buckets: int = 1 << 17
    char_ngrams: tuple[int, ...] = (3, 4, 5)
    word_bigrams: bool = True
    max_chars: int = 2000

    @property
    def dim(self) -> int:
        return self.word_buckets + self.char_buckets

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> HashingConfig:
        return cls(**{**data, "char_ngrams": tuple(data["char_ngrams"])})


#: Bucket ids, sublinear term frequencies and block (0 word, 1 char) of one text's hashed n-grams.
Terms = tuple[np.ndarray, np.ndarray, np.ndarray]


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads a polynomial hash over all bits before it is reduced to a bucket."""
    values = (values ^ (values >> np.uint64(30))) * _MIX1
    values = (values ^ (values >> np.uint64(27))) * _MIX2
    return values ^ (values >> np.uint64(31))


def _prefix_hashes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horner prefix hashes ``H[i]`` of ``codes[:i]`` and powers ``P[i] = B**i``, all modulo 2**64.

    Any substring's hash is then ``H[e] - H[s] * P[e - s]``, so every word and character n-gram is hashed by a
    few vector operations instead of a Python loop. Unsigned numpy arithmetic wraps, which is the modulus.
    """
    n = len(codes)
    powers = np.concatenate(([np.uint64(1)], np.cumprod(np.full(n, _BASE, dtype=np.uint64))))
    scaled = np.cumsum(codes * np.cumprod(np.full(n, _BASE_INVERSE, dtype=np.uint64)))
    return np.concatenate(([np.uint64(0)], powers[1:] * scaled)), powers


def _word_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of words: runs of ASCII letters, digits, ``_`` or non-ASCII characters outside the
    general-punctuation block (a vectorised stand-in for ``\\w+``)."""
    is_word = (((codes >= 48) & (codes <= 57)) | ((codes >= 65) & (codes <= 90)) | ((codes >= 97) & (codes <= 122))
               | (codes == 95) | ((codes > 127) & ~((codes >= 0x2000) & (codes <= 0x206F))))
    edges = np.diff(np.concatenate(([0], is_word.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def hashed_terms(text: str, config: HashingConfig) -> Terms:
    """Bucket ids present in ``text``, their sublinear term frequencies, and which block each belongs to
    (0 word, 1 char). IDF weighting and per-block L2 normalisation happen in ``tfidf_from_terms``."""
    text = " " + " ".join(clip(text.lower(), config.max_chars).split()) + " "
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    prefix, powers = _prefix_hashes(codes)
    starts, ends = _word_spans(codes)
    words = prefix[ends] - prefix[starts] * powers[ends - starts]
    word_grams = [words]
    if config.word_bigrams and len(words) > 1:
        word_grams.append(words[:-1] * _BASE + words[1:] + np.uint64(1))
    char_grams = [
        prefix[n:] - prefix[:-n] * powers[n] + np.uint64(n * _NGRAM_SALT % (1 << 64))
        for n in config.char_ngrams if len(codes) >= n
    ]
    word_buckets = _mix(np.concatenate(word_grams)) % np.uint64(config.word_buckets)
    char_buckets = _mix(np.concatenate(char_grams or [np.zeros(0, np.uint64)])) % np.uint64(config.char_buckets)
    buckets, counts = np.unique(
        np.concatenate([word_buckets.astype(np.int64), char_buckets.astype(np.int64) + config.word_buckets]),
        return_counts=True,
    )
    tf = 1.0 + np.log(counts.astype(np.float64))
    return buckets, tf, (buckets >= config.word_buckets).astype(np.int8)


def tfidf_from_terms(terms: Terms, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparse TF-IDF vector as (bucket ids, values), each block (word, char) scaled to unit length like
    scikit-learn's per-vectoriser normalisation."""
    buckets, tf, block = terms
    values = tf * idf[buckets]
    for b in (0, 1):
        mask = block == b
        norm = float(np.sqrt(np.dot(values[mask], values[mask])))
        if norm > 0:
            values[mask] /= norm
    return buckets, values


def tfidf_vector(text: str, config: HashingConfig, idf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return tfidf_from_terms(hashed_terms(text, config), idf)


def tfidf_matrix(terms: Sequence[Terms], config: HashingConfig, idf: np.ndarray) -> sparse.csr_matrix:
    """Rows of ``tfidf_from_terms`` for many texts' terms, for training and batch scoring (same code path)."""
    vectors = [tfidf_from_terms(item, idf) for item in terms]
    indptr = np.cumsum([0, *(len(buckets) for buckets, _ in vectors)])
    indices = np.concatenate([buckets for buckets, _ in vectors]) if vectors else np.zeros(0, dtype=np.int64)
    data = np.concatenate([values for _, values in vectors]) if vectors else np.zeros(0)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(terms), config.dim))


def inverse_document_frequency(terms: Sequence[Terms], config: HashingConfig) -> np.ndarray:
    """Smoothed IDF per bucket, ``log((1 + N) / (1 + df)) + 1`` as in scikit-learn; unseen buckets get the max."""
    df = np.zeros(config.dim, dtype=np.float64)
    for buckets, _, _ in terms:
        df[buckets] += 1.0
    return (np.log((1.0 + len(terms)) / (1.0 + df)) + 1.0).astype(np.float32)
