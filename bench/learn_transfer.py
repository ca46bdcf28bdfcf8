"""Acceptance measurement for ``costroute learn``: does learning from audited traffic close a domain gap?

``bench/router_transfer.py`` shows the router is weakest on domains missing from its training data. This bench
plays the operator whose traffic is such a domain (MMLU's STEM subjects): train a *transfer* artifact without it,
simulate audited requests of it, run the learn procedure (``routing/retrain.py``, the core of ``costroute
learn``, with its gate), and compare on the domain's held-out rows:

- transfer (trained without the domain), learned (transfer data + audits, with the second opinion learn blends
  in at the weight the audits chose: ``routing/blend.py``), learned-unblended (the same candidate's own score),
  in-domain (trained with the domain's public rows), LiteLLM's heuristic (as router_transfer computes it);
- on the other data sets' test split, transfer vs learned (the learned router must not forget them), with a
  95% paired bootstrap interval of the difference: what that many test rows can show by chance.

Audits: ``--audits`` rows drawn (seeded) from the domain's *train* split of the router's split rule, served by the
cheap tier, with the ratings a perfect judge would give (10 where the model was right, 1 where wrong), written
through ``Audit.storable`` and read back by ``quality/learn.py`` as the command reads a records file. Evaluation
uses the domain's *test* split, which neither training nor the audits touch. Acceptance (issue 15 item 4):
learned APGR at least halfway from transfer to in-domain, above the heuristic, not worse on the other sets.

With ``--arena arena_bench.jsonl`` (``costroute import-arena``) the same is run with Chatbot Arena prompts as the
operator's domain: transfer = GSM8K + MMLU, in-domain adds the arena rows, audits are the arena train-split
prompts (under 300 exist, so fewer than ``--audits``) rated with the recorded GPT-4 grades of Mixtral and
GPT-4-Turbo.

All artifacts are trained at one point (``--C``, ``--embedding-weight``), as router_transfer does, so the three
compare like for like and the run fits a shared 2-core machine. Usage:
``.venv/bin/python -m bench.learn_transfer --data gsm8k.jsonl mmlu.jsonl [--arena arena_bench.jsonl]``
(files from ``costroute import-routellm`` / ``import-arena``). One JSON line per figure, then a verdict per domain.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.router_transfer import CHEAP, PREMIUM, domain_of
from costroute_plugins.embedding import Embedder, SentenceTransformerEmbedder
from costroute_plugins.proxy.litellm_heuristic import LiteLLMHeuristicClassifier
from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.quality.learn import read_records, rows_for_pair, rows_from_records
from costroute_plugins.routing.apgr import routing_metrics
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.base import TierClassifier
from costroute_plugins.routing.blend import artifact_classifier
from costroute_plugins.routing.cli_common import request_views
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import Outcome, SplitRule, pair_qualities, read_outcomes, write_outcomes
from costroute_plugins.routing.retrain import GateRule, retrain
from costroute_plugins.routing.training import TrainingOptions, train_router

#: Paired bootstrap resamples for the interval of a difference in APGR on the other sets.
BOOTSTRAP = 400


def _as_json(row: Outcome) -> dict:
    return {"id": row.id, "messages": list(row.messages), "scores": dict(row.scores)}


def _write(folder: Path, name: str, rows: Sequence[Outcome]) -> str:
    path = folder / f"{name}.jsonl"
    write_outcomes(path, (_as_json(row) for row in rows))
    return str(path)


def _rating(score: float, graded: bool) -> float:
    """A perfect judge's 1-10 rating: correctness (0/1) as 1 or 10; a recorded grade (0.1-1.0) as itself x 10."""
    return round(score * 10, 3) if graded else (10.0 if score >= 0.5 else 1.0)


def _records(rows: Sequence[Outcome], graded: bool, path: Path) -> Path:
    """The audits the proxy would have written for ``rows``: cheap tier served, premium as reference."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            verdict = Verdict("single", served_rating=_rating(row.scores[CHEAP], graded),
                              reference_rating=_rating(row.scores[PREMIUM], graded))
            audit = Audit(request_id=row.id, tenant="team:bench", kind="routed", served_tier="cheap",
                          reference_tier="premium", messages=tuple(row.messages), served_answer="",
                          reference_answer="", verdict=verdict)
            handle.write(json.dumps(audit.storable()) + "\n")  # PII check as the proxy does
    return path


def _apgr(method: TierClassifier, rows: Sequence[Outcome]) -> float:
    q = pair_qualities(rows, CHEAP, PREMIUM)
    return routing_metrics(method.premium_need_batch(request_views(rows, embed=True, progress=False)),
                           q.cheap, q.premium).apgr


def paired_interval(before: TierClassifier, after: TierClassifier, rows: Sequence[Outcome],
                    resamples: int = BOOTSTRAP) -> tuple[float, float]:
    """95% interval of APGR(after) - APGR(before) on ``rows``, by a paired bootstrap over the rows (seeded): how
    large a difference this many test rows can show by chance, so a "not worse" reads against it."""
    views = request_views(rows, embed=True, progress=False)
    a, b = before.premium_need_batch(views), after.premium_need_batch(views)
    q = pair_qualities(rows, CHEAP, PREMIUM)
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(resamples):
        pick = rng.integers(0, len(rows), len(rows))
        differences.append(routing_metrics(b[pick], q.cheap[pick], q.premium[pick], seeds=1).apgr
                           - routing_metrics(a[pick], q.cheap[pick], q.premium[pick], seeds=1).apgr)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def run_domain(name: str, domain_rows: Sequence[Outcome], other_sets: dict[str, list[Outcome]],
               transfer_paths: Sequence[str], in_domain_paths: Sequence[str], n_audits: int, graded: bool,
               weight: int | None, options: TrainingOptions, embedder: Embedder, folder: Path,
               emit: Callable[[dict], None], transfer: RouterArtifact | None = None) -> RouterArtifact:
    """Train transfer / in-domain / learned for one domain, print every figure, return the in-domain artifact."""
    split = options.split
    pool = split.select(domain_rows, "train")
    test = split.select(domain_rows, "test")
    rng = np.random.default_rng(0)
    audited = [pool[i] for i in sorted(rng.choice(len(pool), size=min(n_audits, len(pool)), replace=False))]
    transfer = transfer or train_router(transfer_paths, CHEAP, PREMIUM, embedder, options, progress=False)
    in_domain = train_router(in_domain_paths, CHEAP, PREMIUM, embedder, options, progress=False)
    learned_rows = rows_from_records(read_records([_records(audited, graded, folder / f"{name}-audits.jsonl")]))
    own, _ = rows_for_pair(learned_rows, "cheap", "premium")
    heuristic = LiteLLMHeuristicClassifier("heuristic")
    result = retrain(transfer_paths, own, ("cheap", "premium"), transfer, embedder, weight=weight,
                     rule=GateRule(min_heldout=30), options=options, second_opinion=heuristic)
    emit({"domain": name, "audits": len(audited), "records": learned_rows.summary(), "own_rows": result.rows,
          "blend": result.blend.to_json() if result.blend else None, "gate": {
        "transfer": result.live.to_json(), "learned": result.new.to_json(), "passed": result.passed,
        "reasons": result.reasons, "weights_tried": {w: t.to_json() for w, t in result.tried.items()}}})
    methods: dict[str, TierClassifier] = {"transfer": LogisticClassifier(transfer),
                                          "learned": artifact_classifier(result.candidate,
                                                                         {heuristic.name: lambda: heuristic}),
                                          "learned-unblended": LogisticClassifier(result.candidate),
                                          "in-domain": LogisticClassifier(in_domain),
                                          "litellm-heuristic": heuristic}
    figures = {method: _apgr(classifier, test) for method, classifier in methods.items()}
    for method, apgr in figures.items():
        emit({"domain": name, "set": f"{name} test", "n": len(test), "method": method, "apgr": round(apgr, 4)})
    others: dict[str, dict[str, float]] = {}
    intervals: dict[str, list[float]] = {}
    for set_name, rows in other_sets.items():
        held = split.select(rows, "test")
        for method in ("transfer", "learned", "learned-unblended", "in-domain"):
            apgr = _apgr(methods[method], held)
            others.setdefault(set_name, {})[method] = apgr
            emit({"domain": name, "set": f"{set_name} test", "n": len(held), "method": method,
                  "apgr": round(apgr, 4)})
        intervals[set_name] = [round(v, 4) for v in paired_interval(methods["transfer"], methods["learned"], held)]
    gap = figures["in-domain"] - figures["transfer"]
    closed = (figures["learned"] - figures["transfer"]) / gap if gap > 0 else None
    emit({"domain": name, "verdict": {
        "blend_weight": result.candidate.blend.weight if result.candidate.blend else 0.0,
        "share_of_gap_closed": None if closed is None else round(closed, 3),
        "halfway_to_in_domain": closed is not None and closed >= 0.5,
        "above_heuristic": figures["learned"] > figures["litellm-heuristic"],
        "other_sets_not_worse": {k: round(v["learned"] - v["transfer"], 4) for k, v in others.items()},
        "other_sets_difference_95pct_interval": intervals,
        "gate_would_publish": result.passed}})
    return in_domain


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, help="gsm8k.jsonl mmlu.jsonl from import-routellm")
    parser.add_argument("--arena", help="arena_bench.jsonl from import-arena: also run with Arena traffic")
    parser.add_argument("--audits", type=int, default=1000, help="simulated audited requests (default 1000)")
    parser.add_argument("--weight", type=int, help="learn's --weight (default: learn's, the best of 1, 2, 3)")
    parser.add_argument("--C", type=float, default=0.1)
    parser.add_argument("--embedding-weight", type=float, default=1.0)
    args = parser.parse_args(argv)
    options = TrainingOptions(regularisation=(args.C,), embedding_weights=(args.embedding_weight,), split=SplitRule())
    embedder = SentenceTransformerEmbedder()

    def emit(line: dict) -> None:
        print(json.dumps(line), flush=True)

    files = {Path(path).stem: read_outcomes(path) for path in args.data}
    with tempfile.TemporaryDirectory(prefix="learn-transfer-") as tmp:
        folder = Path(tmp)
        stem = [row for rows in files.values() for row in rows if domain_of(row) == "stem"]
        rest = {name: [row for row in rows if domain_of(row) != "stem"] for name, rows in files.items()}
        transfer_paths = [_write(folder, name, rows) for name, rows in rest.items() if rows]
        all_public = run_domain("stem", stem, rest, transfer_paths, list(args.data), args.audits, False,
                                args.weight, options, embedder, folder, emit)
        if args.arena:
            arena = [row for row in read_outcomes(args.arena) if CHEAP in row.scores and PREMIUM in row.scores]
            arena_path = _write(folder, "arena_bench", arena)
            run_domain("arena", arena, files, list(args.data), [*args.data, arena_path], args.audits, True,
                       args.weight, options, embedder, folder, emit, transfer=all_public)


if __name__ == "__main__":
    main()
