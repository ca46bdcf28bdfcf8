"""Fitting the logistic router (scikit-learn at training time only; serving is numpy in ``logistic.py``).

Rows are split by a hash of their text into train / validation / test. The model is fitted on train; the
validation split picks the regularisation and block weights (by mean per-dataset APGR, so the small GSM8K
set counts as much as the large MMLU one) and then calibrates the thresholds; test is never read here, so
``eval-router --split test`` is an honest held-out figure.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from tqdm import tqdm

from costroute_plugins.embedding import Embedder
from costroute_plugins.embedding_disk import DiskCachedEmbedder
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.calibration import CalibrationEntry, calibrate
from costroute_plugins.routing.features import (
    STRUCTURAL_NAMES,
    HashingConfig,
    hashed_terms,
    inverse_document_frequency,
    structural_features,
    tfidf_matrix,
)
from costroute_plugins.routing.metrics import routing_metrics
from costroute_plugins.routing.outcomes import Outcome, SplitRule, data_hash, pair_qualities, read_outcomes

#: Targets calibrated at training time; ``costroute calibrate`` adds others.
# The shipped proxy_config.yaml names share<=0.96 and quality>=0.94: a retrained artifact must keep both.
DEFAULT_TARGETS = ("quality>=0.90", "quality>=0.94", "quality>=0.95", "quality>=0.98", "share<=0.20",
                   "share<=0.30", "share<=0.50", "share<=0.60", "share<=0.70", "share<=0.96")


@dataclass(frozen=True)
class TrainingOptions:
    """Search space and data handling; defaults are what the shipped artifact was trained with."""

    regularisation: tuple[float, ...] = (0.03, 0.1, 0.3)
    embedding_weights: tuple[float, ...] = (1.0, 3.0)
    structural_weight: float = 0.3
    balance_datasets: bool = True
    hashing: HashingConfig = HashingConfig()
    split: SplitRule = SplitRule()


@dataclass(frozen=True)
class LabelledSet:
    """Rows of one split with every feature block precomputed."""

    rows: list[Outcome]
    dataset: np.ndarray
    embeddings: np.ndarray
    structural: np.ndarray
    q_cheap: np.ndarray
    q_premium: np.ndarray


def _load(paths: Sequence[str], cheap: str, premium: str, embedder: Embedder, options: TrainingOptions,
          progress: bool) -> dict[str, LabelledSet]:
    """Read every file, embed it (cached), and split rows; the dataset name is the file's stem."""
    parts: dict[str, list[tuple[Outcome, str, np.ndarray]]] = {name: [] for name in ("train", "validation", "test")}
    for path in paths:
        rows = read_outcomes(path)
        pair_qualities(rows, cheap, premium)  # fails early, naming the missing model
        vectors = DiskCachedEmbedder(embedder).embed([row.text for row in rows], progress=progress)
        for row, vector in zip(rows, vectors):
            parts[options.split.split_of(row.text)].append((row, Path(path).stem, vector))
    sets = {}
    for split, items in parts.items():
        rows = [item[0] for item in items]
        qualities = pair_qualities(rows, cheap, premium)
        structural = [structural_features(row.messages, row.text, options.hashing.max_chars)
                      for row in tqdm(rows, desc=f"structural features ({split})", disable=not progress)]
        sets[split] = LabelledSet(
            rows=rows,
            dataset=np.array([item[1] for item in items]),
            embeddings=np.array([item[2] for item in items], dtype=np.float32).reshape(len(items), -1),
            structural=np.array(structural).reshape(len(items), len(STRUCTURAL_NAMES)),
            q_cheap=qualities.cheap,
            q_premium=qualities.premium,
        )
    return sets


def _design(text: sparse.csr_matrix, data: LabelledSet, mean: np.ndarray, scale: np.ndarray,
            embedding_weight: float, structural_weight: float) -> sparse.csr_matrix:
    blocks = [text, sparse.csr_matrix(data.embeddings * embedding_weight),
              sparse.csr_matrix((data.structural - mean) / scale * structural_weight)]
    return sparse.hstack(blocks, format="csr")


def _sample_weights(data: LabelledSet, balance: bool) -> np.ndarray:
    """Equal total weight per dataset, so the model does not become an MMLU-only router."""
    if not balance:
        return np.ones(len(data.rows))
    names, counts = np.unique(data.dataset, return_counts=True)
    per_row = dict(zip(names, len(data.rows) / (len(names) * counts)))
    return np.array([per_row[name] for name in data.dataset])


def per_dataset_apgr(scores: np.ndarray, data: LabelledSet) -> dict[str, float]:
    return {
        str(name): routing_metrics(scores[mask], data.q_cheap[mask], data.q_premium[mask]).apgr
        for name in np.unique(data.dataset)
        if (mask := data.dataset == name).any()
    }


def _file_record(path: str) -> dict:
    return {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def train_router(paths: Sequence[str], cheap: str, premium: str, embedder: Embedder,
                 options: TrainingOptions = TrainingOptions(), progress: bool = True) -> RouterArtifact:
    """Fit, select and calibrate a router on outcome files; see the module docstring for the protocol."""
    from sklearn.linear_model import LogisticRegression

    sets = _load(paths, cheap, premium, embedder, options, progress)
    train, validation = sets["train"], sets["validation"]
    if len(train.rows) < 10 or len(validation.rows) < 10:
        raise ValueError(f"too few rows to train ({len(train.rows)} train, {len(validation.rows)} validation)")
    labels = (train.q_premium > train.q_cheap).astype(int)
    if labels.min() == labels.max():
        raise ValueError("training labels are all one class: the premium model never (or always) wins")
    terms_train = [hashed_terms(row.text, options.hashing) for row in train.rows]
    idf = inverse_document_frequency(terms_train, options.hashing)
    text_train = tfidf_matrix(terms_train, options.hashing, idf)
    text_validation = tfidf_matrix([hashed_terms(row.text, options.hashing) for row in validation.rows],
                                   options.hashing, idf)
    mean = train.structural.mean(axis=0)
    scale = np.maximum(train.structural.std(axis=0), 1e-6)
    weights = _sample_weights(train, options.balance_datasets)

    best = None
    grid = list(itertools.product(options.regularisation, options.embedding_weights))
    for c, alpha in tqdm(grid, desc="model selection", disable=not progress):
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
        model.fit(_design(text_train, train, mean, scale, alpha, options.structural_weight), labels,
                  sample_weight=weights)
        scores = model.decision_function(
            _design(text_validation, validation, mean, scale, alpha, options.structural_weight))
        apgrs = per_dataset_apgr(scores, validation)
        mean_apgr = float(np.mean(list(apgrs.values())))
        if best is None or mean_apgr > best[0]:
            best = (mean_apgr, c, alpha, model, apgrs)
    _, c, alpha, model, apgrs = best

    coef = model.coef_[0]
    dim = options.hashing.dim
    n_embedding = train.embeddings.shape[1]
    arrays = {
        "idf": idf,
        "w_text": coef[:dim].astype(np.float32),
        "w_embedding": (coef[dim:dim + n_embedding] * alpha).astype(np.float32),
        "embedding_mean": train.embeddings.mean(axis=0).astype(np.float32),
        "w_structural": coef[dim + n_embedding:] * options.structural_weight,
        "structural_mean": mean,
        "structural_scale": scale,
    }
    artifact = RouterArtifact(
        cheap_model=cheap, premium_model=premium, hashing=options.hashing, embedding_model=embedder.name,
        intercept=float(model.intercept_[0]), arrays=arrays, split=options.split,
        training={
            "data": [_file_record(path) for path in paths],
            "train_data_hash": data_hash(train.rows),
            "rows": {split: len(data.rows) for split, data in sets.items()},
            "regularisation_C": c,
            "embedding_weight": alpha,
            "structural_weight": options.structural_weight,
            "balance_datasets": options.balance_datasets,
            "validation_apgr": apgrs,
        },
    )
    return calibrate_artifact(artifact, validation, DEFAULT_TARGETS)


def calibrate_artifact(artifact: RouterArtifact, data: LabelledSet, targets: Sequence[str]) -> RouterArtifact:
    """Add calibration entries for ``targets`` measured on ``data`` (the validation split)."""
    from costroute_plugins.routing.base import RequestView
    from costroute_plugins.routing.logistic import LogisticClassifier

    classifier = LogisticClassifier(artifact)
    views = [RequestView(row.messages, vector) for row, vector in zip(data.rows, data.embeddings)]
    scores = classifier.premium_need_batch(views)
    for target in targets:
        entry: CalibrationEntry = calibrate(scores, data.q_cheap, data.q_premium, target)
        artifact = artifact.with_calibration(entry)
    return artifact
