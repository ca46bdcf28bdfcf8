"""Retrain the router on public outcomes plus the operator's own rows, and decide whether the result may go live.

Why a gate at all: a router learned from a few hundred audits can be worse than the one serving (noisy ratings,
a tenant's thumbs-down flood, traffic that shifted), and a worse router costs money or quality on every request.
So the candidate is compared with the live artifact on rows neither was trained on, and published only when

- on the operator's held-out audited rows its APGR is at least the live one's minus ``own_tolerance`` (the
  traffic it is meant for), and
- on every public file's validation split its APGR is at least the live one's minus ``public_tolerance`` (it
  did not forget the public domains to fit the operator's).

Held-out own rows are chosen by a hash of the prompt with this module's own salt (``HOLDOUT_SALT``), not by the
artifact's split rule: traffic may all fall in one split of that rule (the transfer bench feeds only train-split
prompts), and a prompt held out stays held out on every rerun, so a candidate is never judged on what it learned.
Every own row whose prompt is held out, feedback included, is kept out of training; only audited rows measure
(feedback is no sample of traffic, see ``quality/learn.py``).

Weight: training weighs each outcome file (dataset) equally (``TrainingOptions.balance_datasets``), so repeating
rows inside one file would change nothing. The own rows are written as ``weight`` identical files instead: they
weigh as much as ``weight`` public files in the fit and count ``weight`` times in model selection. How much they
should weigh is a hyper-parameter like the router's others, so unless the operator fixes it, learn trains a
candidate at each of ``OWN_WEIGHTS`` and keeps the one the gate rates best: among those it would publish, the best
APGR on the held-out own rows, then the best worst public file, then the smaller weight (it forgets less). More
weight tips the fit towards a few hundred audited rows at the cost of what only the public data cover; measured
with ``bench/learn_transfer.py`` (MMLU STEM as the operator's domain, two public files), the learned router alone
was 0.004, 0.009 and 0.014 APGR below transfer on MMLU's other subjects (test split) at weights 1, 2 and 3, while
on the domain itself weight 1 fell below LiteLLM's heuristic. Choosing among three candidates on the held-out rows
makes the winner's held-out figure slightly flattering; the public files' validation split, which the gate also
reads, already chooses the router's other hyper-parameters (``train_router``).

Second opinion: given one (``costroute learn`` passes LiteLLM's complexity-router heuristic), the candidate blends
it in at the weight its training audits choose (``routing/retrain_blend.py``), 0 (no blend) included. Each
artifact is then measured as it would serve: live and candidate each with their own blend, or none.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.embedding import Embedder
from costroute_plugins.messages import last_user_text
from costroute_plugins.quality.learn import OwnRow
from costroute_plugins.routing.apgr import MetricsError, routing_metrics
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import artifact_classifier
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import Outcome, pair_qualities, read_outcomes, write_outcomes
from costroute_plugins.routing.retrain_blend import BlendChoice, choose_blend, fold_of, views, with_blend
from costroute_plugins.routing.training import TrainingOptions, train_router

HOLDOUT_SALT = "costroute-learn-v1"
#: The own-row weights learn tries when the operator does not fix one (see the module docstring).
OWN_WEIGHTS = (1, 2, 3)


class NotEnoughRows(ValueError):
    """Too few own rows to validate a candidate; nothing was trained."""


@dataclass(frozen=True)
class GateRule:
    """When a candidate may replace the live artifact (see the module docstring)."""

    own_tolerance: float = 0.0
    public_tolerance: float = 0.02
    min_heldout: int = 50
    holdout_share: float = 0.25

    def describe(self) -> str:
        return (f"publish when APGR on held-out own rows >= live - {self.own_tolerance:g} and APGR on every "
                f"public file's validation split >= live - {self.public_tolerance:g}")


@dataclass(frozen=True)
class Figures:
    """APGR of one artifact on the held-out own rows and on each public file's validation split."""

    own: float
    public: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"own_apgr": round(self.own, 4), "public_apgr": {k: round(v, 4) for k, v in self.public.items()}}


@dataclass(frozen=True)
class Tried:
    """One own-row weight's candidate as the gate measured it, and whether the gate would publish it."""

    figures: Figures
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.figures.to_json(), "passed": not self.reasons}

    def preference(self, weight: int) -> tuple[bool, float, float, int]:
        """How learn ranks the candidate trained at ``weight`` (highest kept): publishable first, then its APGR on
        the held-out own rows, then its worst public file's, then the smaller weight; to 4 places, so a tie
        (the same ranking to the last digit printed) falls through to the next."""
        worst_public = min(self.figures.public.values(), default=0.0)
        return not self.reasons, round(self.figures.own, 4), round(worst_public, 4), -weight


@dataclass
class Retrained:
    """The candidate, both artifacts' figures, and the gate's verdict with its reasons."""

    candidate: RouterArtifact
    live: Figures
    new: Figures
    rule: GateRule
    rows: dict[str, int]
    reasons: list[str] = field(default_factory=list)
    blend: BlendChoice | None = None
    tried: dict[int, Tried] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.reasons


def own_weights(weight: int | None) -> tuple[int, ...]:
    """The own-row weights to train candidates at: ``weight`` alone, or by default ``OWN_WEIGHTS``."""
    if weight is None:
        return OWN_WEIGHTS
    if weight < 1:
        raise ValueError(f"weight {weight}: own rows need a weight of at least 1 (a count of copies)")
    return (weight,)


def held_out(text: str, share: float) -> bool:
    """Whether a prompt is kept out of training to validate on; the same answer on every run."""
    bucket = int(hashlib.sha256((HOLDOUT_SALT + "\0" + text).encode()).hexdigest()[:8], 16) % 10_000
    return bucket < share * 10_000


def _as_outcome(row: OwnRow, names: Mapping[str, str]) -> Outcome:
    data = row.outcome(names)
    return Outcome(id=data["id"], messages=tuple(data["messages"]), scores=data["scores"])


def _apgr(classifier: TierClassifier, rows: Sequence[Outcome], views: Sequence[RequestView], cheap: str,
          premium: str) -> float:
    q = pair_qualities(rows, cheap, premium)
    return routing_metrics(classifier.premium_need_batch(views), q.cheap, q.premium).apgr


def _own_files(folder: str, stem: str, rows: Sequence[OwnRow], names: Mapping[str, str], weight: int) -> list[str]:
    """The own rows as ``weight`` identical outcome files (see the module docstring)."""
    paths = []
    for copy in range(1, weight + 1):
        paths.append(str(Path(folder) / f"{stem}-{copy}.jsonl"))
        write_outcomes(paths[-1], (row.outcome(names) for row in rows))
    return paths


def split_own(rows: Sequence[OwnRow], share: float) -> tuple[list[OwnRow], list[OwnRow]]:
    """(rows to train on, audited rows to validate on)."""
    train = [row for row in rows if not held_out(last_user_text(row.messages), share)]
    gate = [row for row in rows if row.source == "audit" and held_out(last_user_text(row.messages), share)]
    return train, gate


def check_enough(gate: Sequence[OwnRow], usable: int, rule: GateRule) -> None:
    """Stop before training when the held-out rows cannot tell two routers apart."""
    if len(gate) < rule.min_heldout:
        raise NotEnoughRows(
            f"too few own rows: {len(gate)} audited rows held out for validation (of {usable} usable; "
            f"{rule.holdout_share:.0%} are held out), at least {rule.min_heldout} needed (--min-heldout). Keep "
            "auditing (quality.routed_sample_rate, quality.records_path) and run learn again")
    served = np.array([row.scores[row.tiers[0]] for row in gate])
    reference = np.array([row.scores[row.tiers[1]] for row in gate])
    if float(np.sum(reference - served)) <= 0:
        raise NotEnoughRows(
            f"on the {len(gate)} held-out audited rows the top tier is not rated above the cheaper one on average "
            "(PGR is undefined): there is nothing for a router to gain, so no candidate can be judged; keep the "
            "live router (or calibrate it to send less to the top tier)")


def _write_rows(path: Path, rows: Sequence[Outcome]) -> str:
    write_outcomes(path, ({"id": row.id, "messages": list(row.messages), "scores": dict(row.scores)} for row in rows))
    return str(path)


def _blended(candidate: RouterArtifact, public: Sequence[str], own_files: Sequence[str],
             train_rows: Sequence[OwnRow], names: Mapping[str, str], weight: int, opinion: TierClassifier,
             embedder: Embedder, options: TrainingOptions, folder: str,
             min_rows: int) -> tuple[RouterArtifact, BlendChoice]:
    """The candidate (trained on ``public`` + ``own_files``) with ``opinion`` blended in at the weight the training
    rows choose (``retrain_blend.py``); probes are trained as the candidate was, at its selected hyper-parameters,
    without one fold of the prompts, own and public."""
    models = (candidate.cheap_model, candidate.premium_model)
    fixed = replace(options, regularisation=(candidate.training["regularisation_C"],),
                    embedding_weights=(candidate.training["embedding_weight"],))
    public_rows = {Path(path): read_outcomes(path) for path in public}

    def probe(fold: int) -> RouterArtifact:
        where = Path(folder) / f"fold{fold}"
        paths = [_write_rows(where / path.name, [row for row in rows if fold_of(row.text) != fold])
                 for path, rows in public_rows.items()]
        kept = [row for row in train_rows if fold_of(last_user_text(row.messages)) != fold]
        return train_router([*paths, *_own_files(str(where), "operator", kept, names, weight)], *models, embedder,
                            fixed, progress=False)

    audits = [_as_outcome(row, names) for row in train_rows if row.source == "audit"]
    public_train = {path.stem: [row for row in options.split.select(rows, "train")
                                if all(model in row.scores for model in models)]
                    for path, rows in public_rows.items()}
    choice, blend = choose_blend(audits, public_train, probe, opinion, embedder, models, min_rows)
    if blend is None:
        return candidate, choice
    return with_blend(candidate, blend, opinion, [*public, *own_files], options.split, embedder), choice


def retrain(public: Sequence[str], own: Sequence[OwnRow], tiers: tuple[str, str], live: RouterArtifact,
            embedder: Embedder, *, weight: int | None = None, rule: GateRule = GateRule(),
            options: TrainingOptions | None = None, progress: bool = False,
            second_opinion: TierClassifier | None = None) -> Retrained:
    """Train a candidate on ``public`` files plus ``own`` rows (their ``tiers`` renamed to the live artifact's
    model names, which the public rows score) at each own-row weight tried, blend ``second_opinion`` in where the
    own rows say it helps, measure each against ``live`` and keep the best; see the module docstring. A live
    artifact that blends a second opinion needs it given here (``blend.BlendError`` otherwise)."""
    weights = own_weights(weight)
    names = {tiers[0]: live.cheap_model, tiers[1]: live.premium_model}
    opinions = {second_opinion.name: lambda: second_opinion} if second_opinion is not None else {}
    live_classifier = artifact_classifier(live, opinions)  # before training: a live blend it cannot score stops here
    train_rows, gate_rows = split_own(own, rule.holdout_share)
    check_enough(gate_rows, len(own), rule)
    options = options or TrainingOptions(split=live.split)
    models = (live.cheap_model, live.premium_model)
    gate = Gate(rule, [_as_outcome(row, names) for row in gate_rows], embedder, public, options, models)
    old = gate.measure(live_classifier)
    results: dict[int, tuple[RouterArtifact, BlendChoice | None, Tried]] = {}
    for at in weights:
        candidate, choice = _candidate(public, train_rows, names, at, live, embedder, options, progress,
                                       second_opinion, rule.min_heldout)
        new = gate.measure(artifact_classifier(candidate, opinions))
        results[at] = candidate, choice, Tried(new, tuple(gate.reasons(old, new)))
    tried = {w: result[2] for w, result in results.items()}
    chosen = max(tried, key=lambda w: tried[w].preference(w))
    candidate, choice, verdict = results[chosen]
    if choice is not None and candidate.blend is not None:
        choice = replace(choice, heldout_unblended=gate.own_apgr(LogisticClassifier(candidate)))
    row_counts = {"own_train": len(train_rows), "own_heldout": len(gate_rows), "weight": chosen}
    record = {"own_rows": row_counts, "tiers": {"cheap": tiers[0], "premium": tiers[1]},
              "live": old.to_json(), "candidate": verdict.figures.to_json(), "rule": rule.describe(),
              "weights_tried": {str(w): t.to_json() for w, t in tried.items()},
              **({"blend": choice.to_json()} if choice is not None else {})}
    candidate = replace(candidate, training={**candidate.training, "learn": record})
    return Retrained(candidate, old, verdict.figures, rule, row_counts, list(verdict.reasons), choice, tried)


def _candidate(public: Sequence[str], train_rows: Sequence[OwnRow], names: Mapping[str, str], weight: int,
               live: RouterArtifact, embedder: Embedder, options: TrainingOptions, progress: bool,
               second_opinion: TierClassifier | None, min_rows: int) -> tuple[RouterArtifact, BlendChoice | None]:
    """The candidate trained with the own rows at ``weight``, blended as its training audits choose."""
    with tempfile.TemporaryDirectory(prefix="costroute-learn-") as folder:
        own_files = _own_files(folder, "operator", train_rows, names, weight)
        candidate = train_router([*public, *own_files], live.cheap_model, live.premium_model, embedder, options,
                                 progress=progress)
        if second_opinion is None:
            return candidate, None
        return _blended(candidate, public, own_files, train_rows, names, weight, second_opinion, embedder,
                        options, folder, min_rows)


class Gate:
    """The rows a candidate is judged on (held-out own rows, each public file's validation split), embedded once
    for every candidate, and the rule's verdict."""

    def __init__(self, rule: GateRule, own: Sequence[Outcome], embedder: Embedder, public: Sequence[str],
                 options: TrainingOptions, models: tuple[str, str]) -> None:
        self.rule = rule
        self.models = models
        self.own = (list(own), views(own, embedder))
        self.public = {}
        for path in public:
            rows = options.split.select(read_outcomes(path), "validation")
            if rows:
                self.public[Path(path).stem] = (rows, views(rows, embedder))

    def own_apgr(self, classifier: TierClassifier) -> float:
        return _apgr(classifier, *self.own, *self.models)

    def measure(self, classifier: TierClassifier) -> Figures:
        by_file = {}
        for name, (rows, row_views) in self.public.items():
            try:
                by_file[name] = _apgr(classifier, rows, row_views, *self.models)
            except MetricsError:  # premium not better on this file's validation rows: nothing to compare
                continue
        return Figures(self.own_apgr(classifier), by_file)

    def reasons(self, old: Figures, new: Figures) -> list[str]:
        """Why ``new`` may not replace ``old``; none when it may."""
        rule, reasons = self.rule, []
        if new.own < old.own - rule.own_tolerance:
            reasons.append(f"APGR on {len(self.own[0])} held-out own rows {new.own:.4f} < live {old.own:.4f}"
                           + (f" - {rule.own_tolerance:g}" if rule.own_tolerance else ""))
        for name, value in new.public.items():
            if name in old.public and value < old.public[name] - rule.public_tolerance:
                reasons.append(f"APGR on {name} (validation split) {value:.4f} < live {old.public[name]:.4f} - "
                               f"{rule.public_tolerance:g}")
        return reasons
