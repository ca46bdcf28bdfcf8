"""A router artifact that blends a second opinion into its score: stored and loaded whole, served only with that
second opinion, and an artifact without one behaves exactly as before."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.cli import main
from costroute_plugins.embedding_disk import DiskCachedEmbedder
from costroute_plugins.proxy.second_opinions import proxy_second_opinions
from costroute_plugins.routing.apgr import routing_metrics
from costroute_plugins.routing.artifact import (
    Blend,
    RouterArtifact,
    default_artifact_path,
    load_artifact,
    save_artifact,
)
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import (
    BlendedClassifier,
    BlendError,
    EmpiricalCdf,
    artifact_classifier,
    choose_weight,
    quantiles,
)
from costroute_plugins.routing.calibration import calibrate
from costroute_plugins.routing.cli_common import second_opinions as cli_second_opinions
from costroute_plugins.routing.live_router import LiveRouter
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import pair_qualities, read_outcomes
from costroute_plugins.routing.registry import ArtifactRegistry
from costroute_plugins.routing.router import Router, RouterSettings
from tests.routing.conftest import CHEAP, PREMIUM, SAMPLE

PROMPTS = [f"Explain how a {thing} works, step by step, for a {level} reader." for thing in
           ("transistor", "heat pump", "bicycle gear", "vaccine", "compiler", "tide", "loan", "rainbow")
           for level in ("young", "curious", "expert")]


class WordCount(TierClassifier):
    """A stand-in second opinion: longer prompts need the premium tier more."""

    name = "word-count"

    def premium_need(self, request: RequestView) -> float:
        return min(1.0, len(request.text.split()) / 20)


def _views() -> list[RequestView]:
    return [RequestView.of_prompt(prompt) for prompt in PROMPTS]


def _blended(artifact: RouterArtifact, weight: float = 0.4) -> RouterArtifact:
    views = _views()
    blend = Blend("word-count", weight, quantiles(LogisticClassifier(artifact).premium_need_batch(views)),
                  quantiles(WordCount().premium_need_batch(views)))
    return replace(artifact, blend=blend)


OPINIONS = {"word-count": WordCount}


def test_a_blended_artifact_loads_back_and_scores_identically(tmp_path: Path):
    blended = _blended(load_artifact())

    path = save_artifact(blended, tmp_path / "blended.json")

    document = json.loads(path.read_text())
    assert document["schema_version"] == 2 and document["blend"]["second_opinion"] == "word-count"
    loaded = load_artifact(path)
    assert loaded.blend is not None and loaded.blend.weight == 0.4
    np.testing.assert_array_equal(loaded.blend.other_quantiles, blended.blend.other_quantiles)
    before = artifact_classifier(blended, OPINIONS).premium_need_batch(_views())
    after = artifact_classifier(loaded, OPINIONS).premium_need_batch(_views())
    np.testing.assert_allclose(after, before)
    assert np.all((after >= 0) & (after <= 1))


def test_an_artifact_without_a_blend_is_written_and_served_as_before(tmp_path: Path):
    path = save_artifact(load_artifact(), tmp_path / "plain.json")

    document = json.loads(path.read_text())
    assert document["schema_version"] == 1 and "blend" not in document
    assert json.loads(default_artifact_path().read_text())["schema_version"] == 1
    loaded = load_artifact(path)
    assert loaded.blend is None
    assert type(artifact_classifier(loaded, OPINIONS)) is LogisticClassifier  # nothing blended, whatever is offered


def test_a_blend_section_without_its_schema_version_is_refused(tmp_path: Path):
    path = save_artifact(_blended(load_artifact()), tmp_path / "blended.json")
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 1}))

    with pytest.raises(ArtifactError, match="schema_version 1 and a blend section go together"):
        load_artifact(path)


def test_a_blend_weighted_to_either_end_ranks_as_that_scorer():
    artifact = _blended(load_artifact())
    views = _views()
    own = LogisticClassifier(artifact).premium_need_batch(views)
    other = WordCount().premium_need_batch(views)

    for weight, ranked_like in ((1e-9, own), (1.0, other)):
        blend = replace(artifact.blend, weight=weight)
        scores = BlendedClassifier(LogisticClassifier(artifact), WordCount(), blend).premium_need_batch(views)
        # the same order wherever the ranked-like scores differ
        pairs = [(i, j) for i in range(len(views)) for j in range(len(views)) if ranked_like[i] < ranked_like[j]]
        assert all(scores[i] <= scores[j] for i, j in pairs)


def test_ties_in_the_reference_count_at_their_middle_rank():
    cdf = EmpiricalCdf(np.array([0.1, 0.5, 0.5, 0.5, 0.9]))

    np.testing.assert_allclose(cdf(np.array([0.1, 0.5, 0.9, 0.0, 2.0])), [0.0, 0.5, 1.0, 0.0, 1.0])


def test_a_weight_is_kept_only_when_it_beats_no_blend_clearly():
    assert choose_weight({0.0: 0.60, 0.2: 0.64, 0.4: 0.70, 0.6: 0.69}) == 0.4
    assert choose_weight({0.0: 0.60, 0.2: 0.605, 0.4: 0.59}) == 0.0  # within noise: no blend
    assert choose_weight({0.0: 0.60, 0.2: 0.62, 0.4: 0.62}) == 0.2  # a tie goes to the lighter blend


def test_a_blended_artifact_is_refused_where_its_second_opinion_is_missing():
    blended = _blended(load_artifact())

    with pytest.raises(BlendError, match="'word-count' .* calibrated on the blended score"):
        artifact_classifier(blended)
    with pytest.raises(BlendError):
        Router.with_artifact(RouterSettings(), blended, {"other": WordCount})
    decision = Router.with_artifact(RouterSettings(), blended, OPINIONS).decide(
        [{"role": "user", "content": PROMPTS[0]}])
    assert "costroute-logistic+word-count score" in decision.reason
    assert Router.with_artifact(RouterSettings(), blended, OPINIONS).uses_embedding


def test_a_replica_serves_a_blended_version_with_the_proxy_s_litellm_heuristic(tmp_path: Path):
    registry = ArtifactRegistry.open(tmp_path)
    blended = replace(_blended(load_artifact()), blend=replace(_blended(load_artifact()).blend,
                                                               opinion="litellm-heuristic"))
    registry.publish(blended)
    settings = RouterSettings()

    without = LiveRouter(settings, Router.from_settings(settings), registry)
    serving = without.router
    with pytest.raises(BlendError):  # the router in place keeps serving
        without.poll()
    assert without.router is serving and without.version is None

    live = LiveRouter(settings, Router.from_settings(settings), registry, proxy_second_opinions())
    assert live.poll().live == "v0001"
    decision = live.router.decide([{"role": "user", "content": PROMPTS[0]}])
    assert decision.tier in ("cheap", "balanced", "premium") and "+litellm-heuristic score" in decision.reason


def test_calibrate_and_eval_router_score_a_blended_artifact_as_it_is_served(small_artifact, embedder,
                                                                          tmp_path: Path, capsys):
    rows = read_outcomes(SAMPLE)
    views = [RequestView(row.messages, vector)
             for row, vector in zip(rows, DiskCachedEmbedder(embedder).embed([row.text for row in rows]))]
    heuristic = cli_second_opinions()["litellm-heuristic"]()
    blend = Blend("litellm-heuristic", 0.5, quantiles(LogisticClassifier(small_artifact).premium_need_batch(views)),
                  quantiles(heuristic.premium_need_batch(views)))
    path = save_artifact(replace(small_artifact, blend=blend), tmp_path / "blended.json")
    served = BlendedClassifier(LogisticClassifier(small_artifact), heuristic, blend).premium_need_batch(views)
    q = pair_qualities(rows, CHEAP, PREMIUM)

    assert main(["calibrate", "--router-artifact", str(path), "--outcomes", str(SAMPLE), "--split", "all",
                 "--max-premium-share", "0.3"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == calibrate(served, q.cheap, q.premium,
                                                                        "share<=0.30").threshold
    assert main(["eval-router", "--outcomes", str(SAMPLE), "--cheap-model", CHEAP, "--premium-model", PREMIUM,
                 "--router-artifact", str(path), "--no-chit-chat-rule", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["method"] == "costroute-logistic+litellm-heuristic"
    assert line["apgr"] == round(routing_metrics(served, q.cheap, q.premium).apgr, 4)
