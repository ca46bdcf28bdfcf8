"""Fitting the learned verifier from labelled pairs, with its acceptance threshold chosen for precision.

The verifier only ever sees candidates above the cache's similarity threshold that passed the rules, so it is
trained on exactly that region. Word weights (IDF) come from the training texts and ship in the artifact.
The probability threshold is picked on out-of-fold predictions (never on the pairs a model was fitted to) as
the lowest one whose precision reaches the target, which keeps the shipped precision honest on unseen data.

The embedding scorer (logistic regression over the two vectors' per-dimension products and distances) is
stacked under the pair model: the pair model is trained on the scorer's out-of-fold logits, so it learns how far
to trust the scorer on pairs the scorer never saw, which is what serving asks of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from costroute_plugins.cache.features import Idf, embedding_inputs, pair_features
from costroute_plugins.cache.pairs import Pair
from costroute_plugins.cache.text import normalise
from costroute_plugins.cache.verifier import (
    BoostedTrees,
    EmbeddingScorer,
    LearnedVerifier,
    LogisticModel,
    PairScorer,
    RuleVerifier,
    Tree,
)

ModelKind = Literal["logistic", "boosted"]


@dataclass(frozen=True)
class TrainingReport:
    model: str
    reads_embeddings: bool
    candidates: int
    duplicates: int
    threshold: float
    out_of_fold_precision: float
    out_of_fold_recall: float


def candidate_region(
    pairs: Sequence[Pair], similarities: np.ndarray, floor: float, rules: RuleVerifier, idf: Idf
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and pair positions of the pairs the verifier will actually be asked about.

    Pairs equal after normalisation are left out: the exact tier serves them without asking the verifier.
    """
    features, labels, positions = [], [], []
    for position, (pair, similarity) in enumerate(zip(pairs, similarities, strict=True)):
        if similarity < floor or normalise(pair.a) == normalise(pair.b):
            continue
        if not rules.verify(pair.b, pair.a, float(similarity)).accepted:
            continue
        features.append(pair_features(pair.b, pair.a, float(similarity), idf))
        labels.append(pair.duplicate)
        positions.append(position)
    return np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=bool), np.asarray(positions, dtype=int)


def _fit_logistic(features: np.ndarray, labels: np.ndarray, c: float) -> LogisticModel:
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit((features - mean) / scale, labels)
    return LogisticModel(tuple(mean.tolist()), tuple(scale.tolist()), tuple(model.coef_[0].tolist()),
                         float(model.intercept_[0]))


def _fit_boosted(features: np.ndarray, labels: np.ndarray, seed: int) -> BoostedTrees:
    """Shallow trees, a small learning rate and row subsampling: many weak, smooth corrections generalise
    better to other paraphrase sets than a few deep trees fitted to one."""
    model = GradientBoostingClassifier(n_estimators=200, learning_rate=0.05, max_depth=3, subsample=0.8,
                                       min_samples_leaf=40, init="zero", random_state=seed)
    model.fit(features, labels)
    trees = []
    for (estimator,) in model.estimators_:
        tree = estimator.tree_
        trees.append(Tree(tuple(int(f) for f in tree.feature), tuple(float(t) for t in tree.threshold),
                          tuple(int(n) for n in tree.children_left), tuple(int(n) for n in tree.children_right),
                          tuple(float(v) for v in tree.value[:, 0, 0])))
    exported = BoostedTrees(tuple(trees), float(model.learning_rate), 0.0)
    sample = features[:200]
    expected = 1.0 / (1.0 + np.exp(-model.decision_function(sample)))
    if not np.allclose([exported.probability(row) for row in sample], expected, atol=1e-9):
        raise RuntimeError("the exported trees disagree with the fitted model; this sklearn version's tree "
                           "layout is not supported")
    return exported


def fit_model(kind: ModelKind, features: np.ndarray, labels: np.ndarray, *, c: float = 1.0,
              seed: int = 0) -> PairScorer:
    if kind == "logistic":
        return _fit_logistic(features, labels, c)
    if kind == "boosted":
        return _fit_boosted(features, labels, seed)
    raise ValueError(f"unknown verifier model {kind!r}; use 'logistic' or 'boosted'")


def lowest_threshold_for(probabilities: np.ndarray, labels: np.ndarray, target_precision: float,
                         min_support: int) -> float:
    """Lowest probability threshold whose precision reaches the target over at least ``min_support`` hits."""
    order = np.argsort(-probabilities, kind="stable")
    hits = np.arange(1, len(order) + 1)
    precision = np.cumsum(labels[order]) / hits
    ok = np.flatnonzero((precision >= target_precision) & (hits >= min_support))
    if len(ok) == 0:
        return 1.0  # nothing reaches the target: accept nothing rather than serve wrong answers
    return float(probabilities[order][ok[-1]])


def training_texts(pairs: Sequence[Pair]) -> list[str]:
    return [text for pair in pairs for text in (pair.a, pair.b)]


def threshold_for_every_source(probabilities: np.ndarray, labels: np.ndarray, sources: np.ndarray,
                               target_precision: float) -> float:
    """The lowest threshold at which *each* source with both labels reaches the target precision.

    Pooling would let an easy source (GPTCache's pairs are all paraphrases) buy precision for a hard one
    (QQP's near-miss questions); the cache must be precise on every kind of traffic it was shown.
    """
    thresholds = [0.0]
    for source in np.unique(sources):
        mine = sources == source
        if labels[mine].all() or not labels[mine].any():
            continue
        thresholds.append(lowest_threshold_for(probabilities[mine], labels[mine], target_precision,
                                               min_support=max(20, int(mine.sum()) // 50)))
    return max(thresholds)


# The cosine is the sum of the products, so a scorer with equal weights reproduces it. The cosine enters as one
# more input, scaled up so its weight costs almost no penalty: the L2 penalty then pulls the per-dimension
# weights towards "cosine alone" instead of towards zero, and only evidence moves them away.
COSINE_SCALE = 100.0


def fit_embedding_scorer(inputs: np.ndarray, labels: np.ndarray, c: float) -> EmbeddingScorer:
    """Logistic regression on ``[cosine, u*v, |u-v|]``, with the cosine's weight folded into the products'."""
    d = inputs.shape[1] // 2
    cosine = inputs[:, :d].sum(axis=1, keepdims=True)
    model = LogisticRegression(C=c, max_iter=3000)
    model.fit(np.hstack([cosine * COSINE_SCALE, inputs]), labels)
    coef = model.coef_[0][1:].copy()
    coef[:d] += model.coef_[0][0] * COSINE_SCALE
    return EmbeddingScorer(coef, float(model.intercept_[0]))


def _out_of_fold_logits(inputs: np.ndarray, labels: np.ndarray, c: float, folds: int, seed: int) -> np.ndarray:
    logits = np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(inputs, labels):
        logits[test] = fit_embedding_scorer(inputs[train], labels[train], c).logits(inputs[test])
    return logits


def fit_verifier(
    pairs: Sequence[Pair],
    vectors_a: np.ndarray,
    vectors_b: np.ndarray,
    *,
    embedder: str,
    floor: float,
    sources: Sequence[str] | None = None,
    target_precision: float = 0.95,
    model: ModelKind = "logistic",
    c: float = 1.0,
    read_embeddings: bool = False,
    embedding_c: float = 3.0,
    folds: int = 5,
    seed: int = 0,
) -> tuple[LearnedVerifier, TrainingReport]:
    """``vectors_a``/``vectors_b`` are the pairs' unit embeddings; ``sources`` names each pair's data set, and
    the acceptance threshold must meet the target on each one. ``read_embeddings`` stacks the embedding scorer
    under the pair model (schema 3); without it the model sees the cosine only."""
    similarities = (vectors_a * vectors_b).sum(axis=1)
    idf = Idf.fit(training_texts(pairs))
    features, labels, positions = candidate_region(pairs, similarities, floor, RuleVerifier(), idf)
    if len(labels) < folds * 10 or labels.all() or not labels.any():
        raise ValueError(
            f"only {len(labels)} candidate pairs above similarity {floor} with both labels; "
            "add pairs with duplicates and non-duplicates or lower the floor"
        )
    scorer = None
    if read_embeddings:
        # The query is the pair's b and the cached prompt its a, as in serving (the inputs are symmetric anyway).
        inputs = embedding_inputs(vectors_b[positions], vectors_a[positions])
        features = np.hstack([features, _out_of_fold_logits(inputs, labels, embedding_c, folds, seed)[:, None]])
        scorer = fit_embedding_scorer(inputs, labels, embedding_c)
    origin = np.asarray(sources if sources is not None else ["pairs"] * len(pairs))[positions]
    out_of_fold = np.zeros(len(labels))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed + 1).split(features, labels):
        fitted = fit_model(model, features[train], labels[train], c=c, seed=seed)
        out_of_fold[test] = [fitted.probability(row) for row in features[test]]
    threshold = threshold_for_every_source(out_of_fold, labels, origin, target_precision)
    accepted = out_of_fold >= threshold
    report = TrainingReport(
        model=model,
        reads_embeddings=read_embeddings,
        candidates=len(labels),
        duplicates=int(labels.sum()),
        threshold=threshold,
        out_of_fold_precision=float(labels[accepted].mean()) if accepted.any() else 0.0,
        out_of_fold_recall=float(accepted[labels].mean()),
    )
    final = fit_model(model, features, labels, c=c, seed=seed)
    return LearnedVerifier(final, threshold, embedder, idf, scorer, floor), report
