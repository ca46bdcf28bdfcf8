"""Fitting the learned verifier from labelled pairs, with its acceptance threshold chosen for precision.

The verifier only ever sees candidates above the cache's similarity threshold that passed the rules, so it is
trained on exactly that region. Its probability threshold is picked on out-of-fold predictions (never on the
pairs a model was fitted to) as the lowest one whose precision reaches the target, which keeps the shipped
precision honest on unseen data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from costroute_plugins.cache.features import pair_features
from costroute_plugins.cache.pairs import Pair
from costroute_plugins.cache.verifier import LearnedVerifier, LogisticModel, RuleVerifier


@dataclass(frozen=True)
class TrainingReport:
    candidates: int
    duplicates: int
    threshold: float
    out_of_fold_precision: float
    out_of_fold_recall: float


def candidate_region(
    pairs: Sequence[Pair], similarities: np.ndarray, floor: float, rules: RuleVerifier
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the pairs the verifier will actually be asked about."""
    features, labels = [], []
    for pair, similarity in zip(pairs, similarities, strict=True):
        if similarity < floor or not rules.verify(pair.b, pair.a, float(similarity)).accepted:
            continue
        features.append(pair_features(pair.b, pair.a, float(similarity)))
        labels.append(pair.duplicate)
    return np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=bool)


def _fit(features: np.ndarray, labels: np.ndarray, c: float) -> LogisticModel:
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    model.fit((features - mean) / scale, labels)
    return LogisticModel(tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                         float(model.intercept_[0]))


def _lowest_threshold_for(probabilities: np.ndarray, labels: np.ndarray, target_precision: float,
                          min_support: int) -> float:
    """Lowest probability threshold whose precision reaches the target over at least ``min_support`` hits."""
    order = np.argsort(-probabilities)
    hits = np.arange(1, len(order) + 1)
    precision = np.cumsum(labels[order]) / hits
    ok = np.flatnonzero((precision >= target_precision) & (hits >= min_support))
    if len(ok) == 0:
        return 1.0  # nothing reaches the target: accept nothing rather than serve wrong answers
    return float(probabilities[order][ok[-1]])


def fit_verifier(
    pairs: Sequence[Pair],
    similarities: np.ndarray,
    *,
    embedder: str,
    floor: float,
    target_precision: float = 0.95,
    c: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> tuple[LearnedVerifier, TrainingReport]:
    rules = RuleVerifier()
    features, labels = candidate_region(pairs, similarities, floor, rules)
    if len(labels) < folds * 10 or labels.all() or not labels.any():
        raise ValueError(
            f"only {len(labels)} candidate pairs above similarity {floor} with both labels; "
            "add pairs with duplicates and non-duplicates or lower the floor"
        )
    out_of_fold = np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels):
        model = _fit(features[train], labels[train], c)
        out_of_fold[test] = [model.probability(row) for row in features[test]]
    threshold = _lowest_threshold_for(out_of_fold, labels, target_precision, min_support=max(20, len(labels) // 50))
    accepted = out_of_fold >= threshold
    report = TrainingReport(
        candidates=int(len(labels)),
        duplicates=int(labels.sum()),
        threshold=threshold,
        out_of_fold_precision=float(labels[accepted].mean()) if accepted.any() else 0.0,
        out_of_fold_recall=float(accepted[labels].mean()),
    )
    return LearnedVerifier(_fit(features, labels, c), threshold, embedder), report
