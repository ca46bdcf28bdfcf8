"""`costroute learn` as an operator runs it: audited traffic in, a better router published, a worse one refused.

The traffic is synthetic and plain on purpose, and its tiers are unlike the public data's: the operator's cheap
tier (a maths-tuned model, say) writes proofs as well as the top tier but fails at translations. The live router,
trained on GSM8K/MMLU rows, sends proofs up and keeps short translations cheap, the wrong way round here; a
router learned from the audits can tell. Embeddings come from the real MiniLM model, as in the other routing tests.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from costroute_plugins.cli import main
from costroute_plugins.quality.audit import Audit
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.routing.registry import ArtifactRegistry
from tests.routing.conftest import CHEAP, PREMIUM, SAMPLE

OBJECTS = ("apple", "river", "window", "mountain", "teacher", "garden", "bicycle", "letter", "bridge", "candle",
           "forest", "kitchen", "doctor", "island", "pencil", "summer", "market", "violin", "harbor", "blanket")
LANGUAGES = ("French", "German", "Spanish", "Italian", "Dutch", "Polish")
CLAIMS = ("the square root of {n} is irrational", "there are infinitely many primes congruent to {n} mod 4",
          "every tree with {n} vertices has {n} minus one edges", "the sum of the first {n} odd numbers is a square",
          "a graph with {n} vertices and no triangle has at most n^2/4 edges", "{n} factorial grows faster than 2^n")


def _translations() -> list[str]:
    return [f"Translate the word '{word}' into {language}." for word in OBJECTS for language in LANGUAGES]


def _proofs() -> list[str]:
    return [f"Write a rigorous proof that {claim.format(n=n)}." for claim in CLAIMS for n in range(3, 23)]


def _audit(number: int, prompt: str, served: float, reference: float) -> dict:
    return Audit(request_id=f"req-{number}", tenant="team:acme", kind="routed", served_tier="cheap",
                 reference_tier="premium", messages=({"role": "user", "content": prompt},),
                 served_answer="...", reference_answer="...",
                 verdict=Verdict("single", served_rating=served, reference_rating=reference)).storable()


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A live router trained on the public sample, and a day of audits the proxy wrote."""
    folder = tmp_path_factory.mktemp("learn")
    live = folder / "live.json"
    assert main(["train-router", "--outcomes", str(SAMPLE), "--cheap-model", CHEAP, "--premium-model", PREMIUM,
                 "--out", str(live), "--quiet"]) == 0
    failed = [_audit(i, prompt, 3.0, 9.0) for i, prompt in enumerate(_translations())]
    fine = [_audit(1000 + i, prompt, 9.0, 9.0) for i, prompt in enumerate(_proofs())]
    return {"live": live, "audits": _write(folder / "audits.jsonl", failed + fine)}


LEARN = ["--min-heldout", "30",
         # the sample's validation split is ~30 rows, too few for the default 0.02 to be more than noise
         "--public-tolerance", "0.15", "--quiet", "--json"]


@pytest.fixture(scope="module")
def published(traffic: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict]:
    """The operator runs learn once on the day's audits: (registry, exit code, the JSON report)."""
    registry = tmp_path_factory.mktemp("registry") / "router"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["learn", "--records", str(traffic["audits"]), "--outcomes", str(SAMPLE), "--registry",
                     str(registry), "--router-artifact", str(traffic["live"]), *LEARN])
    return registry, code, json.loads(out.getvalue())


def test_learning_from_audits_publishes_a_router_that_ranks_the_traffic_better(traffic, published):
    registry, code, report = published

    assert code == 0 and report["published"] == "v0002" and report["passed"]
    assert report["candidate"]["own_apgr"] > report["live"]["own_apgr"] + 0.1
    assert report["records"]["audit_rows"] == len(_translations()) + len(_proofs())
    assert report["own_rows"]["own_heldout"] >= 30 and report["tiers"] == {"cheap": "cheap", "premium": "premium"}
    listed = ArtifactRegistry(registry).versions()
    assert [(v.version, v.live) for v in listed] == [("v0001", False), ("v0002", True)]
    assert listed[0].note == f"baseline: {traffic['live']}"  # what served before, kept for --rollback
    # a candidate per own-row weight, and the published one is the best the gate would publish
    tried = report["weights_tried"]
    assert list(tried) == ["1", "2", "3"] and tried[str(report["own_rows"]["weight"])]["passed"]
    assert report["candidate"]["own_apgr"] == max(t["own_apgr"] for t in tried.values() if t["passed"])
    assert ArtifactRegistry(registry).live().training["learn"]["own_rows"] == report["own_rows"]
    # learn asked LiteLLM's heuristic for a second opinion, and the published router blends it as chosen
    blend, served = report["blend"], ArtifactRegistry(registry).live().blend
    assert blend["second_opinion"] == "litellm-heuristic" and blend["training_rows"] > 0
    assert (served.weight if served else 0.0) == blend["weight"] in (0.0, 0.2, 0.4, 0.6, 0.8)


def test_thumbs_that_contradict_the_audits_give_a_worse_router_which_is_refused(traffic, published, tmp_path,
                                                                                 capsys):
    registry = tmp_path / "router"
    shutil.copytree(published[0], registry)
    # Users liked the cheap translations (they could not check them) and disliked the long proofs.
    thumbs = [("up", prompt) for prompt in _translations() * 3] + [("down", prompt) for prompt in _proofs() * 3]
    flood = [{"kind": "feedback", "rating": rating, "served_tier": "cheap", "response_id": f"r-{i}",
              "messages": [{"role": "user", "content": prompt}]} for i, (rating, prompt) in enumerate(thumbs)]
    records = _write(tmp_path / "with-feedback.jsonl",
                     [json.loads(line) for line in traffic["audits"].read_text().splitlines()] + flood)

    code = main(["learn", "--records", str(records), "--outcomes", str(SAMPLE), "--registry", str(registry), *LEARN])

    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 1 and report["published"] is None and report["records"]["feedback_rows"] == len(flood)
    assert report["candidate"]["own_apgr"] < report["live"]["own_apgr"]
    assert "candidate not published, v0002 stays live: APGR on" in captured.err
    assert ArtifactRegistry(registry).live_version() == "v0002"


def test_too_few_audits_stop_before_training(traffic, tmp_path, capsys):
    few = _write(tmp_path / "few.jsonl", [_audit(i, prompt, 3.0, 9.0) for i, prompt in enumerate(_translations()[:20])])

    code = main(["learn", "--records", str(few), "--outcomes", str(SAMPLE), "--registry", str(tmp_path / "router")])

    assert code == 1 and "too few own rows" in capsys.readouterr().err
    assert not (tmp_path / "router" / "registry.json").exists()


def test_list_and_rollback_manage_the_published_versions(published, tmp_path, capsys):
    registry = tmp_path / "router"
    shutil.copytree(published[0], registry)

    assert main(["learn", "--registry", str(registry), "--rollback"]) == 0
    assert capsys.readouterr().out.strip() == "rolled back to v0001 (live)"
    assert main(["learn", "--registry", str(registry), "--list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(v["version"], v["live"]) for v in listed] == [("v0001", True), ("v0002", False)]
    assert main(["learn", "--registry", str(registry), "--rollback"]) == 1
    assert "no earlier live version" in capsys.readouterr().err
