"""Fitting the logistic router (scikit-learn at training time only; serving is numpy in ``logistic.py``).

Rows are split by a hash of their text into train / validation / test. The model is fitted on train; the
validation split picks the regularisation and block weights (by mean per-dataset APGR, so the small GSM8K
set counts as much as the large MMLU one) and then calibrates the thresholds; test is never read here, so
``eval-router --split test`` is an honest held-out figure.

Several model pairs (``--pair``): each row gives one example per configured pair whose two models it scores
(``model_pairs.py``), with the one label definition (premium scores above cheap). A row's examples share its
split, since the split hashes the text. Balancing stays per dataset (file): each file weighs the same in the fit
whatever its pairs, and model selection averages per-file APGR, each file's examples of every pair pooled into one
ranking (the router scores a text once, whichever pair it is asked about).

The calibration table is measured on the first (primary) pair only, the pair the artifact names and the proxy's
cheap and premium tiers stand for: ``quality>=0.94`` means a share of *that* premium model's quality, and adding
or dropping other pairs must not change what an entry means. Pooling every pair's validation examples was
measured on an arena candidate (GSM8K + MMLU + arena-bench with Mixtral, Mistral-7B and GPT-3.5 against
GPT-4-Turbo + 456 strong-vs-weak battles; primary Mixtral / GPT-4-Turbo; 2,347 of 2,511 validation examples
primary): on the primary pair's test rows ``quality>=0.94`` gave 0.953 quality at a 0.428 premium share calibrated
on the primary pair, 0.949 at 0.400 pooled; ``quality>=0.90`` 0.918 at 0.211 vs 0.908 at 0.151. Pooled thresholds
rise because the chat examples score high and carry wide gaps (Mistral-7B, battles), so the pooled mix reaches a
quality target with fewer premium calls than the primary pair does: its margin over the target shrinks, and
would turn into a miss as chat pairs grow beyond the MMLU-dominated share they have today.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from tqdm import tqdm

from costroute_plugins.embedding import Embedder
from costroute_plugins.embedding_disk import DiskCachedEmbedder
from costroute_plugins.routing.apgr import routing_metrics
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
from costroute_plugins.routing.model_pairs import ModelPair, distinct_pairs, pair_examples
from costroute_plugins.routing.outcomes import Outcome, SplitRule, data_hash, read_outcomes

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
    hashing: HashingConfig = field(default_factory=HashingConfig)
    split: SplitRule = field(default_factory=SplitRule)


@dataclass(frozen=True)
class LabelledSet:
    """Examples of one split (a row once per pair it scores) with every feature block precomputed."""

    rows: list[Outcome]
    dataset: np.ndarray
    pair: np.ndarray
    embeddings: np.ndarray
    structural: np.ndarray
    q_cheap: np.ndarray
    q_premium: np.ndarray

    def subset(self, mask: np.ndarray) -> LabelledSet:
        return LabelledSet(rows=[row for row, keep in zip(self.rows, mask) if keep], dataset=self.dataset[mask],
                           pair=self.pair[mask], embeddings=self.embeddings[mask], structural=self.structural[mask],
                           q_cheap=self.q_cheap[mask], q_premium=self.q_premium[mask])

    def distinct_rows(self) -> list[Outcome]:
        """Each row once, in order: what IDF counts, so a row scored by three pairs is one document, not three."""
        return list({id(row): row for row in self.rows}.values())


def _load(paths: Sequence[str], pairs: Sequence[ModelPair], embedder: Embedder, options: TrainingOptions,
          progress: bool) -> dict[str, LabelledSet]:
    """Read every file, embed its rows (cached), and split examples; the dataset name is the file's stem."""
    parts: dict[str, list[tuple[Outcome, str, int, np.ndarray]]] = {name: [] for name in ("train", "validation",
                                                                                        "test")}
    for path in paths:
        examples = pair_examples(read_outcomes(path), pairs, str(path))
        used = list({id(row): row for row, _ in examples}.values())
        vectors = DiskCachedEmbedder(embedder).embed([row.text for row in used], progress=progress)
        vector_of = {id(row): vector for row, vector in zip(used, vectors)}
        for row, pair in examples:
            parts[options.split.split_of(row.text)].append((row, Path(path).stem, pair, vector_of[id(row)]))
    sets = {}
    for split, items in parts.items():
        rows = [item[0] for item in items]
        features: dict[int, np.ndarray] = {}
        for row in tqdm(rows, desc=f"structural features ({split})", disable=not progress):
            if id(row) not in features:
                features[id(row)] = structural_features(row.messages, row.text, options.hashing.max_chars)
        chosen = [pairs[item[2]] for item in items]
        sets[split] = LabelledSet(
            rows=rows,
            dataset=np.array([item[1] for item in items]),
            pair=np.array([item[2] for item in items], dtype=np.int64),
            embeddings=np.array([item[3] for item in items], dtype=np.float32).reshape(len(items), -1),
            structural=np.array([features[id(row)] for row in rows]).reshape(len(items), len(STRUCTURAL_NAMES)),
            q_cheap=np.array([row.scores[pair.cheap] for row, pair in zip(rows, chosen)], dtype=np.float64),
            q_premium=np.array([row.scores[pair.premium] for row, pair in zip(rows, chosen)], dtype=np.float64),
        )
    return sets


def _design(text: sparse.csr_matrix, data: LabelledSet, mean: np.ndarray, scale: np.ndarray,
            embedding_weight: float, structural_weight: float) -> sparse.csr_matrix:
    blocks = [text, sparse.csr_matrix(data.embeddings * embedding_weight),
              sparse.csr_matrix((data.structural - mean) / scale * structural_weight)]
    return sparse.hstack(blocks, format="csr")


def _sample_weights(data: LabelledSet, balance: bool) -> np.ndarray:
    """Equal total weight per dataset, so the model does not become an MMLU-only router (with several pairs,
    a file's examples of all pairs share its weight)."""
    if not balance:
        return np.ones(len(data.rows))
    names, counts = np.unique(data.dataset, return_counts=True)
    per_row = dict(zip(names, len(data.rows) / (len(names) * counts)))
    return np.array([per_row[name] for name in data.dataset])


def per_dataset_apgr(scores: np.ndarray, data: LabelledSet) -> dict[str, float]:
    """APGR per dataset, every pair's examples of it ranked together; a dataset whose premium side does not win
    on average has no APGR (PGR is undefined) and is left out rather than failing the search."""
    return {
        str(name): routing_metrics(scores[mask], data.q_cheap[mask], data.q_premium[mask]).apgr
        for name in np.unique(data.dataset)
        if (mask := data.dataset == name).any() and _gains(data, mask)
    }


def per_pair_apgr(scores: np.ndarray, data: LabelledSet, pairs: Sequence[ModelPair]) -> dict[str, float]:
    """APGR per dataset and pair, for the training summary of a several-pair run (small slices are noisy)."""
    return {
        f"{name} {pairs[index]}": round(routing_metrics(scores[mask], data.q_cheap[mask], data.q_premium[mask]).apgr, 4)
        for name in np.unique(data.dataset) for index in range(len(pairs))
        if (mask := (data.dataset == name) & (data.pair == index)).any() and _gains(data, mask)
    }


def _gains(data: LabelledSet, mask: np.ndarray) -> bool:
    return float(np.sum(data.q_premium[mask] - data.q_cheap[mask])) > 0


def _file_record(path: str) -> dict:
    return {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


def train_router(paths: Sequence[str], cheap: str, premium: str, embedder: Embedder,
                 options: TrainingOptions = TrainingOptions(), progress: bool = True,
                 extra_pairs: Sequence[ModelPair] = ()) -> RouterArtifact:
    """Fit, select and calibrate a router on outcome files; see the module docstring for the protocol.

    ``cheap`` / ``premium`` is the primary pair (named in the artifact, calibrated on); ``extra_pairs`` add
    examples from rows scoring other pairs.
    """
    from sklearn.linear_model import LogisticRegression

    pairs = distinct_pairs([ModelPair(cheap, premium), *extra_pairs])
    sets = _load(paths, pairs, embedder, options, progress)
    train, validation = sets["train"], sets["validation"]
    if len(train.rows) < 10 or len(validation.rows) < 10:
        raise ValueError(f"too few rows to train ({len(train.rows)} train, {len(validation.rows)} validation)")
    if np.sum(validation.pair == 0) < 10:
        raise ValueError(f"too few validation rows score the first pair {pairs[0]} to calibrate on "
                         f"({int(np.sum(validation.pair == 0))}); put the pair most rows score first")
    labels = (train.q_premium > train.q_cheap).astype(int)
    if labels.min() == labels.max():
        raise ValueError("training labels are all one class: the premium model never (or always) wins")
    terms_of = {id(row): hashed_terms(row.text, options.hashing) for row in train.distinct_rows()}
    idf = inverse_document_frequency(list(terms_of.values()), options.hashing)
    text_train = tfidf_matrix([terms_of[id(row)] for row in train.rows], options.hashing, idf)
    text_validation = tfidf_matrix([hashed_terms(row.text, options.hashing) for row in validation.rows],
                                   options.hashing, idf)
    mean = train.structural.mean(axis=0)
    scale = np.maximum(train.structural.std(axis=0), 1e-6)
    weights = _sample_weights(train, options.balance_datasets)

    best: tuple[float, float, float, Any, dict[str, float], np.ndarray] | None = None
    grid = list(itertools.product(options.regularisation, options.embedding_weights))
    for c, alpha in tqdm(grid, desc="model selection", disable=not progress):
        model = LogisticRegression(C=c, solver="liblinear", max_iter=1000)
        model.fit(_design(text_train, train, mean, scale, alpha, options.structural_weight), labels,
                  sample_weight=weights)
        scores = model.decision_function(
            _design(text_validation, validation, mean, scale, alpha, options.structural_weight))
        apgrs = per_dataset_apgr(scores, validation)
        if not apgrs:
            raise ValueError("no validation dataset where the premium side scores above the cheap side on average; "
                             "PGR is undefined, so no model can be selected")
        mean_apgr = float(np.mean(list(apgrs.values())))
        if best is None or mean_apgr > best[0]:
            best = (mean_apgr, c, alpha, model, apgrs, scores)
    if best is None:
        raise ValueError("nothing to select from: regularisation and embedding_weights need a value each")
    _, c, alpha, model, apgrs, validation_scores = best

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
            **_pairs_record(pairs, sets, validation, validation_scores),
            "regularisation_C": c,
            "embedding_weight": alpha,
            "structural_weight": options.structural_weight,
            "balance_datasets": options.balance_datasets,
            "validation_apgr": apgrs,
        },
    )
    return calibrate_artifact(artifact, validation.subset(validation.pair == 0), DEFAULT_TARGETS)


def _pairs_record(pairs: Sequence[ModelPair], sets: dict[str, LabelledSet], validation: LabelledSet,
                  scores: np.ndarray) -> dict:
    """What a several-pair training adds to the record: the pairs, examples per pair and split, per-pair APGR.
    With several pairs ``rows`` counts examples (a row once per pair it scores) and ``distinct_rows`` the rows;
    one pair adds nothing, so its artifact reads exactly as before."""
    if len(pairs) == 1:
        return {}
    return {
        "pairs": [str(pair) for pair in pairs],
        "distinct_rows": {split: len(data.distinct_rows()) for split, data in sets.items()},
        "examples_by_pair": {str(pair): {split: int(np.sum(data.pair == index)) for split, data in sets.items()}
                             for index, pair in enumerate(pairs)},
        "validation_apgr_by_pair": per_pair_apgr(scores, validation, pairs),
        "calibrated_on": f"pair {pairs[0]}, validation split",
    }


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
