"""Second opinion on a semantic candidate: serving a wrong cached answer is worse than a miss.

Embedding similarity says two prompts are *about* the same thing; it does not say they need the same answer.
``RuleVerifier`` refuses pairs that differ in a detail that changes the answer (a number, a unit, a named
entity, a negation, the direction of a comparison); ``LearnedVerifier`` scores the remaining pairs with a
learned model (logistic regression or boosted trees) over pair features, whose parameters and word weights
ship as a versioned JSON artifact (no pickle: the file is data, never code). ``ChainVerifier`` accepts only when every verifier does.
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

from costroute_plugins.cache.features import FEATURE_NAMES, UNIFORM_IDF, Idf, PairDifference, pair_features
from costroute_plugins.cache.text import Facts

ARTIFACT_SCHEMA_VERSION = 2
DEFAULT_ARTIFACT = Path(__file__).parent / "artifacts" / "verifier-minilm.json"


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reason: str
    score: float | None = None


class HitVerifier(ABC):
    @abstractmethod
    def verify(self, query: str, cached: str, similarity: float) -> Verdict:
        """Whether ``cached``'s answer may be served for ``query``; ``reason`` says why not."""


# Each rule names a detail that, when it differs, makes the cached answer wrong for the query.
RULES: dict[str, Callable[[PairDifference], bool]] = {
    "number": lambda d: d.numbers_differ,
    "negation": lambda d: d.negation_differs,
    "unit": lambda d: d.units_differ,
    "entity": lambda d: d.entities_swapped,
    "direction": lambda d: d.direction_reversed,
}


class RuleVerifier(HitVerifier):
    """Refuses a pair when any enabled rule finds an answer-changing difference."""

    def __init__(self, rules: Sequence[str] = tuple(RULES)) -> None:
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            raise ValueError(f"unknown verifier rules {unknown}; valid rules are {sorted(RULES)}")
        self.rules = tuple(rules)

    def verify(self, query: str, cached: str, similarity: float) -> Verdict:
        difference = PairDifference(Facts(query), Facts(cached))
        for rule in self.rules:
            if RULES[rule](difference):
                return Verdict(False, f"{rule} differs")
        return Verdict(True, "no answer-changing difference found")


class ArtifactError(ValueError):
    """A verifier artifact cannot be used; the message says what to do."""


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


SCORERS: dict[str, Callable[[dict[str, Any]], PairScorer]] = {
    LogisticModel.kind: LogisticModel.from_json,
    BoostedTrees.kind: BoostedTrees.from_json,
}


class LearnedVerifier(HitVerifier):
    """Accepts a pair when the learned model's probability reaches ``threshold``."""

    def __init__(self, model: PairScorer, threshold: float, embedder: str, idf: Idf = UNIFORM_IDF) -> None:
        self.model = model
        self.threshold = threshold
        self.embedder = embedder
        self.idf = idf

    def probability(self, query: str, cached: str, similarity: float) -> float:
        return self.model.probability(pair_features(query, cached, similarity, self.idf))

    def verify(self, query: str, cached: str, similarity: float) -> Verdict:
        p = self.probability(query, cached, similarity)
        if p >= self.threshold:
            return Verdict(True, f"learned score {p:.3f} >= {self.threshold:.3f}", p)
        return Verdict(False, f"learned score {p:.3f} < {self.threshold:.3f}", p)

    def to_artifact(self, **provenance: Any) -> dict[str, Any]:
        return {
            "schema_version": ARTIFACT_SCHEMA_VERSION,
            "kind": self.model.kind,
            "embedder": self.embedder,
            "features": list(FEATURE_NAMES),
            "threshold": self.threshold,
            **provenance,
            "model": self.model.to_json(),
            "idf": self.idf.to_json(),
        }

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any], *, embedder: str | None = None) -> LearnedVerifier:
        version = artifact.get("schema_version")
        if version != ARTIFACT_SCHEMA_VERSION:
            raise ArtifactError(
                f"verifier artifact schema_version {version!r} is not {ARTIFACT_SCHEMA_VERSION}; "
                "retrain it with `costroute train-verifier`"
            )
        if artifact.get("features") != list(FEATURE_NAMES):
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
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"verifier artifact is incomplete ({type(error).__name__}: {error}); "
                                "retrain it with `costroute train-verifier`") from None
        return cls(model, float(artifact["threshold"]), str(artifact["embedder"]), idf)

    @classmethod
    def load(cls, path: str | os.PathLike[str] = DEFAULT_ARTIFACT, *, embedder: str | None = None) -> LearnedVerifier:
        try:
            artifact = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ArtifactError(f"cannot read verifier artifact {path}: {error}") from None
        return cls.from_artifact(artifact, embedder=embedder)

    def save(self, path: str | os.PathLike[str], **provenance: Any) -> None:
        Path(path).write_text(json.dumps(self.to_artifact(**provenance), indent=1) + "\n")


class ChainVerifier(HitVerifier):
    """Accepts only when every verifier accepts; cheap rules go first so the model runs less often."""

    def __init__(self, *verifiers: HitVerifier) -> None:
        self.verifiers = verifiers

    def verify(self, query: str, cached: str, similarity: float) -> Verdict:
        verdict = Verdict(True, "no verifier configured")
        for verifier in self.verifiers:
            verdict = verifier.verify(query, cached, similarity)
            if not verdict.accepted:
                return verdict
        return verdict

