"""Artifacts: what is saved is what is served, and a bad or foreign artifact fails loudly with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.embedding_disk import DiskCachedEmbedder
from costroute_plugins.routing.artifact import RouterArtifact, load_artifact, save_artifact
from costroute_plugins.routing.base import RequestView
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import read_outcomes
from tests.routing.conftest import SAMPLE


def _views(embedder) -> list[RequestView]:
    rows = read_outcomes(SAMPLE)
    vectors = DiskCachedEmbedder(embedder).embed([row.text for row in rows])
    return [RequestView(row.messages, vector) for row, vector in zip(rows, vectors)]


def test_a_saved_artifact_loads_back_and_scores_identically(small_artifact: RouterArtifact, embedder,
                                                            tmp_path: Path) -> None:
    path = save_artifact(small_artifact, tmp_path / "router.json")
    assert path.with_suffix(".npz").exists()
    loaded = load_artifact(path)
    views = _views(embedder)
    before = LogisticClassifier(small_artifact).premium_need_batch(views)
    after = LogisticClassifier(loaded).premium_need_batch(views)
    np.testing.assert_allclose(after, before, rtol=1e-5)
    assert loaded.calibration == small_artifact.calibration
    document = json.loads(path.read_text())
    assert document["schema_version"] == 1 and document["training"]["train_data_hash"]
    assert {"hashing", "structural", "embedding"} <= set(document["features"])


def test_one_request_scores_the_same_as_in_a_batch(small_artifact: RouterArtifact, embedder) -> None:
    classifier = LogisticClassifier(small_artifact)
    views = _views(embedder)
    single = [classifier.premium_need(view) for view in views]
    np.testing.assert_allclose(single, classifier.premium_need_batch(views), rtol=1e-9)


def test_an_artifact_from_another_schema_version_is_refused(small_artifact: RouterArtifact, tmp_path: Path) -> None:
    path = save_artifact(small_artifact, tmp_path / "router.json")
    document = json.loads(path.read_text())
    path.write_text(json.dumps({**document, "schema_version": 99}))
    with pytest.raises(ArtifactError, match="schema_version 99.*Retrain"):
        load_artifact(path)


def test_weights_that_do_not_match_their_json_are_refused(small_artifact: RouterArtifact, tmp_path: Path) -> None:
    path = save_artifact(small_artifact, tmp_path / "router.json")
    np.savez(path.with_suffix(".npz"), **small_artifact.arrays)  # same arrays, different bytes
    with pytest.raises(ArtifactError, match="different trainings"):
        load_artifact(path)


def test_missing_or_garbled_artifacts_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        load_artifact(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_artifact(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"kind": "something-else", "schema_version": 1}))
    with pytest.raises(ArtifactError, match="is not a costroute-router-logistic"):
        load_artifact(tmp_path / "other.json")
