"""Second opinion on a semantic candidate: serving a wrong cached answer is worse than a miss.

Embedding similarity says two prompts are *about* the same thing; it does not say they need the same answer.
``RuleVerifier`` refuses pairs that differ in a detail that changes the answer (a number, an operator, a unit, a
named entity, a negation, the direction of a comparison, a dotted version, a template's filled-in passage);
``LearnedVerifier`` scores the remaining pairs with a learned model (logistic regression or boosted trees) over
pair features, whose parameters and word weights ship as a versioned JSON artifact (no pickle: the file is data,
never code). ``ChainVerifier`` accepts only when every verifier does; ``SameWordsAccepted``, chained after the
rules, spares the learned model pairs that differ only in case or punctuation.

A schema-3 artifact may also read the two prompts' embeddings, not only their cosine: a logistic regression over
the per-dimension products and distances of the two vectors (``EmbeddingScorer``), whose logit is one more feature
of the model. The cache holds both vectors (the query's, and the entry's stored with it), so this costs a dot
product per candidate. It is opt-in (``train-verifier --read-embeddings``): on QQP it has not beaten the cosine
yet (docs/cache-verifier.md).
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.cache.features import (
    EMBEDDING_FEATURE,
    FEATURE_NAMES,
    MAX_COMPARED_CHARS,
    UNIFORM_IDF,
    Idf,
    PairDifference,
    comparable,
    embedding_inputs,
    pair_features,
)
from costroute_plugins.cache.text import Facts, normalise

ARTIFACT_SCHEMA_VERSION = 3
# Schema 2 artifacts (lexical features only) still load: they need no embeddings and keep working as trained.
READABLE_SCHEMA_VERSIONS = (2, 3)
DEFAULT_ARTIFACT = Path(__file__).parent / "artifacts" / "verifier-minilm.json"

# The query's embedding and the cached prompt's, both unit-normalised, in that order.
PairVectors = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    score: float | None = None


class HitVerifier(ABC):
    @abstractmethod
    def verify(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> Verdict:
        """Whether ``cached``'s answer may be served for ``query``; ``reason`` says why not.

        ``vectors`` are the two prompts' embeddings, for verifiers that read more of them than their cosine.
        """


# Either prompt longer than the verifiers compare: refused unread (features.MAX_COMPARED_CHARS says why).
TOO_LONG = Verdict(False, f"prompt longer than {MAX_COMPARED_CHARS} characters: too long to compare")

# Each rule names a detail that, when it differs, makes the cached answer wrong for the query.
RULES: dict[str, Callable[[PairDifference], bool]] = {
    "number": lambda d: d.numbers_differ,
    "operator": lambda d: d.operators_differ,
    "negation": lambda d: d.negation_differs,
    "unit": lambda d: d.units_differ,
    "entity": lambda d: d.entities_swapped,
    "direction": lambda d: d.direction_reversed,
    "template": lambda d: d.template_fill_differs,
}


class RuleVerifier(HitVerifier):
    """Refuses a pair when any enabled rule finds an answer-changing difference."""

    def __init__(self, rules: Sequence[str] = tuple(RULES)) -> None:
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            raise ValueError(f"unknown verifier rules {unknown}; valid rules are {sorted(RULES)}")
        self.rules = tuple(rules)

    def verify(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> Verdict:
        if not comparable(query, cached):
            return TOO_LONG
        difference = PairDifference(Facts(query), Facts(cached))
        for rule in self.rules:
            if RULES[rule](difference):
                return Verdict(False, f"{rule} differs")
        return Verdict(True, "no answer-changing difference found")


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class PairScorer(ABC):
    """Pair features -> probability that the two prompts may share an answer; serialises to plain JSON."""

    kind: str

    @abstractmethod
    def probability(self, features: Sequence[float]) -> float: ...

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LogisticModel(PairScorer):
    """Standardised features -> probability, by logistic regression."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    kind = "logistic_regression"

    def probability(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(
            c * (x - m) / s for c, x, m, s in zip(self.coef, features, self.mean, self.scale, strict=True)
        )
        return _sigmoid(z)

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogisticModel:
        return cls(tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]), float(data["intercept"]))


@dataclass(frozen=True)
class Tree:
    """One regression tree in flat arrays: ``left[i] == -1`` marks a leaf whose output is ``value[i]``."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def output(self, features: Sequence[float]) -> float:
        node = 0
        while self.left[node] != -1:
            node = self.left[node] if features[self.feature[node]] <= self.threshold[node] else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class BoostedTrees(PairScorer):
    """Gradient-boosted trees on raw features: ``sigmoid(bias + rate * sum(tree outputs))``.

    Interactions the linear model cannot express ("a modal differs" matters only when little else differs)
    come for free; a few hundred shallow trees score a pair in well under a millisecond.
    """

    trees: tuple[Tree, ...]
    learning_rate: float
    bias: float
    kind = "gradient_boosting"

    def probability(self, features: Sequence[float]) -> float:
        return _sigmoid(self.bias + self.learning_rate * sum(tree.output(features) for tree in self.trees))

    def to_json(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "bias": self.bias,
                "trees": [{"feature": list(t.feature), "threshold": list(t.threshold), "left": list(t.left),
                           "right": list(t.right), "value": list(t.value)} for t in self.trees]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BoostedTrees:
        trees = tuple(Tree(tuple(t["feature"]), tuple(t["threshold"]), tuple(t["left"]), tuple(t["right"]),
                           tuple(t["value"])) for t in data["trees"])
        return cls(trees, float(data["learning_rate"]), float(data["bias"]))


@dataclass(frozen=True)
class EmbeddingScorer:
    """Logistic regression over ``[u * v, |u - v|]`` of the two unit vectors; returns the logit.

    Both inputs are symmetric in the two prompts, so the score does not depend on which one was cached. The
    standardisation used in training is folded into ``coef`` and ``intercept``.
    """

    coef: np.ndarray
    intercept: float
    kind = "logistic_product_distance"

    @property
    def dim(self) -> int:
        return len(self.coef) // 2

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """One logit per row of ``features.embedding_inputs``."""
        return self.intercept + inputs @ self.coef

    def logit(self, u: np.ndarray, v: np.ndarray) -> float:
        u = np.asarray(u, dtype=np.float64).reshape(-1)
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if len(u) != self.dim or len(v) != self.dim:
            raise ValueError(f"embedding scorer expects {self.dim}-dimensional vectors, got {len(u)} and {len(v)}")
        return float(self.logits(embedding_inputs(u, v))[0])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim, "inputs": ["u*v", "|u-v|"], "intercept": self.intercept,
                "coef": [round(c, 7) for c in self.coef.tolist()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbeddingScorer:
        if data.get("kind") != cls.kind:
            raise ValueError(f"embedding scorer kind {data.get('kind')!r} is not {cls.kind!r}")
        coef = np.asarray(data["coef"], dtype=np.float64)
        if coef.ndim != 1 or len(coef) != 2 * int(data["dim"]):
            raise ValueError(f"embedding scorer needs 2 x dim = {2 * int(data['dim'])} coefficients, has {coef.size}")
        return cls(coef, float(data["intercept"]))


SCORERS: dict[str, Callable[[dict[str, Any]], PairScorer]] = {
    LogisticModel.kind: LogisticModel.from_json,
    BoostedTrees.kind: BoostedTrees.from_json,
}


class LearnedVerifier(HitVerifier):
    """Accepts a pair when the learned model's probability reaches ``threshold``.

    With an ``embedding`` scorer the model also reads the two prompts' vectors; a pair offered without them is
    refused (precision first). ``floor`` is the lowest similarity the model was trained on: below it the model
    has never been asked, so its answer is not trusted.
    """

    def __init__(self, model: PairScorer, threshold: float, embedder: str, idf: Idf = UNIFORM_IDF,
                 embedding: EmbeddingScorer | None = None, floor: float = 0.0) -> None:
        self.model = model
        self.threshold = threshold
        self.embedder = embedder
        self.idf = idf
        self.embedding = embedding
        self.floor = floor

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURE_NAMES + ((EMBEDDING_FEATURE,) if self.embedding is not None else ())

    def features(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> list[float]:
        values = pair_features(query, cached, similarity, self.idf)
        if self.embedding is not None:
            if vectors is None:
                raise ValueError("this verifier reads both prompts' embeddings; pass vectors=(query, cached)")
            values.append(self.embedding.logit(*vectors))
        return values

    def probability(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> float:
        return self.model.probability(self.features(query, cached, similarity, vectors))

    def verify(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> Verdict:
        if similarity < self.floor:
            return Verdict(False, f"similarity {similarity:.3f} below the verifier's trained floor {self.floor:.3f}")
        if not comparable(query, cached):
            return TOO_LONG
        if self.embedding is not None and vectors is None:
            return Verdict(False, "no embeddings to verify with")
        p = self.probability(query, cached, similarity, vectors)
        if p >= self.threshold:
            return Verdict(True, f"learned score {p:.3f} >= {self.threshold:.3f}", p)
        return Verdict(False, f"learned score {p:.3f} < {self.threshold:.3f}", p)

    def to_artifact(self, **provenance: Any) -> dict[str, Any]:
        return {
            "schema_version": ARTIFACT_SCHEMA_VERSION,
            "kind": self.model.kind,
            "embedder": self.embedder,
            "features": list(self.feature_names),
            "threshold": self.threshold,
            "floor": self.floor,
            **provenance,
            "model": self.model.to_json(),
            **({"embedding": self.embedding.to_json()} if self.embedding is not None else {}),
            "idf": self.idf.to_json(),
        }

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any], *, embedder: str | None = None) -> LearnedVerifier:
        version = artifact.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise ArtifactError(
                f"verifier artifact schema_version {version!r} is not one of {list(READABLE_SCHEMA_VERSIONS)}; "
                "retrain it with `costroute train-verifier`"
            )
        reads_embeddings = "embedding" in artifact
        expected = list(FEATURE_NAMES) + ([EMBEDDING_FEATURE] if reads_embeddings else [])
        if artifact.get("features") != expected:
            raise ArtifactError(
                "verifier artifact was trained on other features than this version computes; "
                "retrain it with `costroute train-verifier`"
            )
        if embedder is not None and artifact.get("embedder") != embedder:
            raise ArtifactError(
                f"verifier artifact was trained on {artifact.get('embedder')!r} similarities but the cache embeds "
                f"with {embedder!r}; retrain it with `costroute train-verifier` using that embedder"
            )
        load = SCORERS.get(str(artifact.get("kind")))
        if load is None:
            raise ArtifactError(f"verifier artifact kind {artifact.get('kind')!r} is unknown; use one of "
                                f"{sorted(SCORERS)} (retrain it with `costroute train-verifier`)")
        try:
            model = load(artifact["model"])
            idf = Idf.from_json(artifact["idf"])
            embedding = EmbeddingScorer.from_json(artifact["embedding"]) if reads_embeddings else None
            floor = float(artifact.get("floor") or 0.0)
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"verifier artifact is incomplete ({type(error).__name__}: {error}); "
                                "retrain it with `costroute train-verifier`") from None
        return cls(model, float(artifact["threshold"]), str(artifact["embedder"]), idf, embedding, floor)

    @classmethod
    def load(cls, path: str | os.PathLike[str] = DEFAULT_ARTIFACT, *, embedder: str | None = None) -> LearnedVerifier:
        try:
            artifact = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ArtifactError(f"cannot read verifier artifact {path}: {error}") from None
        if not isinstance(artifact, dict):
            raise ArtifactError(f"verifier artifact {path} is not a JSON object; retrain it with "
                                "`costroute train-verifier`")
        return cls.from_artifact(artifact, embedder=embedder)

    def save(self, path: str | os.PathLike[str], **provenance: Any) -> None:
        Path(path).write_text(json.dumps(self.to_artifact(**provenance), indent=1) + "\n")


class SameWordsAccepted(HitVerifier):
    """Accepts prompts with the same words in the same order (equal under ``text.normalise``: they differ only in
    case, spacing, quotes, brackets or other symbols) and asks ``verifier`` about the rest.

    Only ever chained after the rules, which refuse such pairs when a symbol that changes the answer differs (an
    operator, a number's sign, a unit). Then the answer is the same, but the learned model, trained on pairs worded
    differently, refuses some of these for their punctuation alone ("Make in INDIA" / "“Make in India”"); the exact
    tier served them before it stopped folding operators.
    """

    def __init__(self, verifier: HitVerifier) -> None:
        self.verifier = verifier

    def verify(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> Verdict:
        if comparable(query, cached) and normalise(query) == normalise(cached):
            return Verdict(True, "same words as the cached prompt")
        return self.verifier.verify(query, cached, similarity, vectors)


class ChainVerifier(HitVerifier):
    """Accepts only when every verifier accepts; cheap rules go first so the model runs less often."""

    def __init__(self, *verifiers: HitVerifier) -> None:
        self.verifiers = verifiers

    def verify(self, query: str, cached: str, similarity: float, vectors: PairVectors | None = None) -> Verdict:
        verdict = Verdict(True, "no verifier configured")
        for verifier in self.verifiers:
            verdict = verifier.verify(query, cached, similarity, vectors)
            if not verdict.accepted:
                return verdict
        return verdict

