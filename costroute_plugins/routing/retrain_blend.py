"""How much of a second opinion ``costroute learn`` blends into its candidate (``routing/blend.py``), and the
candidate's calibration rebuilt for the blended score.

Chosen on what: the audited rows learn trains on, never the held-out rows the gate measures (a weight picked on
those would flatter the candidate exactly where it is judged). The candidate was fitted on its training rows, so
its own scores there are too good and would understate what a second opinion adds; hence cross-fitting: the
training prompts, own and public, fall in ``FOLDS`` folds by a hash of the prompt (this module's salt), and for
each fold a probe router is trained as the candidate was (same data, same hyper-parameters, minus that fold's
prompts) and scores the fold. Every training audit and every public training row then has an out-of-sample router
score; each weight's blend of its rank with the second opinion's rank is measured by APGR on the audits, and
``blend.choose_weight`` picks among the weights that cost no public file more than ``blend.MAX_PUBLIC_COST`` (a
second opinion that helps the operator's domain may hurt another: LiteLLM's heuristic on GSM8K). Neither the
held-out audits nor any file's validation split, which the gate reads, is looked at.

The blend's CDFs are the router's out-of-fold scores and the second opinion's scores on the training audits: the
operator's traffic, which the blended rank is a rank in (``choose_blend`` says why out of fold). Calibration: the
blended score is another number than the router's, so every target of the candidate's calibration table is
measured again, on the rows ``train_router`` measured it on (each training file's validation split, own rows as
many times as their weight), with the blended score: a threshold means what the config's target says.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.embedding import Embedder
from costroute_plugins.embedding_disk import DiskCachedEmbedder
from costroute_plugins.routing.apgr import MetricsError
from costroute_plugins.routing.artifact import Blend, RouterArtifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import (
    MAX_PUBLIC_COST,
    BlendedClassifier,
    EmpiricalCdf,
    choose_weight,
    quantiles,
    rank_apgr_by_weight,
)
from costroute_plugins.routing.calibration import calibrate
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import Outcome, SplitRule, pair_qualities, read_outcomes

FOLD_SALT = "costroute-blend-v1"
FOLDS = 3
#: The operator's audits among the sets measured out of fold (the others are public files, named by stem).
OWN = ""


@dataclass(frozen=True)
class BlendChoice:
    """The weight learn chose for ``opinion``; what each weight scored out of fold on ``rows`` training audits and
    on each public file's training rows; why no weight was tried (``note``); the candidate's held-out APGR
    without the blend, for the report."""

    opinion: str
    weight: float
    apgr_by_weight: dict[float, float]
    rows: int
    public_apgr_by_weight: dict[str, dict[float, float]] = field(default_factory=dict)
    note: str = ""
    heldout_unblended: float | None = None

    def to_json(self) -> dict[str, Any]:
        def rounded(by_weight: dict[float, float]) -> dict[str, float]:
            return {f"{w:g}": round(v, 4) for w, v in by_weight.items()}

        return {"second_opinion": self.opinion, "weight": self.weight, "training_rows": self.rows,
                "out_of_fold_apgr_by_weight": rounded(self.apgr_by_weight),
                "public_out_of_fold_apgr_by_weight": {k: rounded(v) for k, v in self.public_apgr_by_weight.items()},
                **({"note": self.note} if self.note else {}),
                **({} if self.heldout_unblended is None else
                   {"heldout_apgr_unblended": round(self.heldout_unblended, 4)})}


def fold_of(text: str) -> int:
    """The fold of a prompt: the same on every run, independent of the held-out split's hash."""
    return int(hashlib.sha256((FOLD_SALT + "\0" + text).encode()).hexdigest()[:8], 16) % FOLDS


def views(rows: Sequence[Outcome], embedder: Embedder) -> list[RequestView]:
    vectors = DiskCachedEmbedder(embedder).embed([row.text for row in rows])
    return [RequestView(row.messages, vector) for row, vector in zip(rows, vectors)]


def choose_blend(rows: Sequence[Outcome], public: Mapping[str, Sequence[Outcome]],
                 probe: Callable[[int], RouterArtifact], opinion: TierClassifier, embedder: Embedder,
                 models: tuple[str, str], min_rows: int) -> tuple[BlendChoice, Blend | None]:
    """The weight of ``opinion`` for the training audits ``rows`` (renamed to ``models``) and the blend at that
    weight (None: no blend), cross-fitted with ``probe(fold)``, a router trained without that fold's prompts, own
    and public. Out of fold, each weight is measured on the audits (what it is chosen by) and on each public file's
    training rows ``public`` (a weight costing any of them more than ``MAX_PUBLIC_COST`` is not a candidate).

    The blend's router CDF is that of the out-of-fold scores of the audits: what the router scores on traffic it
    was not fitted on, which is what it serves. The candidate's own scores on its training rows are stretched by
    the fit (measured on the STEM bench: 95th percentile 0.51 on the training audits, 0.34 on held-out ones), and
    a CDF of them squeezes unseen requests into a narrow band of ranks where the second opinion then decides
    alone (GSM8K test APGR 0.686 -> 0.656 at weight 0.4, against 0.685 with the out-of-fold CDF)."""
    if len(rows) < min_rows:
        return BlendChoice(opinion.name, 0.0, {}, len(rows), note=f"{len(rows)} training audits, {min_rows} needed"), None
    sets = {OWN: list(rows), **{name: list(found) for name, found in public.items()}}
    set_views = {name: views(found, embedder) for name, found in sets.items()}
    other = {name: opinion.premium_need_batch(found_views) for name, found_views in set_views.items()}
    own = {name: np.zeros(len(found)) for name, found in sets.items()}
    folds = {name: np.array([fold_of(row.text) for row in found]) for name, found in sets.items()}
    for fold in range(FOLDS):
        classifier = LogisticClassifier(probe(fold))
        for name, found_views in set_views.items():
            members = np.flatnonzero(folds[name] == fold)
            own[name][members] = classifier.premium_need_batch([found_views[i] for i in members])
    self_quantiles, other_quantiles = quantiles(own[OWN]), quantiles(other[OWN])
    self_cdf, other_cdf = EmpiricalCdf(self_quantiles), EmpiricalCdf(other_quantiles)
    measured = {}
    for name, found in sets.items():
        q = pair_qualities(found, *models)
        try:
            measured[name] = rank_apgr_by_weight(self_cdf(own[name]), other_cdf(other[name]), q.cheap, q.premium)
        except MetricsError:  # premium not better here: this set can tell no weight from another
            continue
    if OWN not in measured:
        return BlendChoice(opinion.name, 0.0, {}, len(rows), note="the top tier is not rated above the cheaper one "
                                                                  "on the training audits: nothing to rank"), None
    by_weight = measured.pop(OWN)
    affordable = {w: apgr for w, apgr in by_weight.items()
                  if all(public_apgr[w] >= public_apgr[0.0] - MAX_PUBLIC_COST for public_apgr in measured.values())}
    weight = choose_weight(affordable)
    choice = BlendChoice(opinion.name, weight, by_weight, len(rows), measured)
    return choice, Blend(opinion.name, weight, self_quantiles, other_quantiles) if weight > 0 else None


def with_blend(candidate: RouterArtifact, blend: Blend, opinion: TierClassifier, training_paths: Sequence[str],
               split: SplitRule, embedder: Embedder) -> RouterArtifact:
    """``candidate`` blended with ``opinion`` as ``blend`` says, its calibration table measured again on the
    blended score (see the module docstring)."""
    blended = replace(candidate, blend=blend)
    models = (candidate.cheap_model, candidate.premium_model)
    rows = [row for path in training_paths for row in split.select(read_outcomes(path), "validation")
            if all(model in row.scores for model in models)]
    scores = BlendedClassifier(LogisticClassifier(blended), opinion, blend).premium_need_batch(views(rows, embedder))
    q = pair_qualities(rows, *models)
    for entry in candidate.calibration:
        blended = blended.with_calibration(calibrate(scores, q.cheap, q.premium, entry.target))
    calibrated_on = (f"blended score ({opinion.name}, weight {blend.weight:g}), validation split of "
                     f"{', '.join(Path(path).stem for path in training_paths)}")
    return replace(blended, training={**blended.training, "calibrated_on": calibrated_on})
