"""The shipped router, on prompts it never saw: it must beat random and length routing on each dataset.

``routing_heldout.jsonl`` holds rows of the artifact's own test split (GSM8K, and an even sample of MMLU), and
``routing_heldout_embeddings.npz`` their MiniLM embeddings, so this runs in seconds; one test re-embeds a few
rows to prove the stored vectors are what the embedder produces.
"""

from __future__ import annotations

import numpy as np
import pytest

from costroute_plugins.routing.apgr import routing_metrics
from costroute_plugins.routing.artifact import load_artifact
from costroute_plugins.routing.base import RequestView
from costroute_plugins.routing.baselines import LengthClassifier, RandomClassifier
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.outcomes import pair_qualities, read_outcomes
from tests.routing.conftest import CHEAP, DATA, HELDOUT, PREMIUM

EMBEDDINGS = DATA / "routing_heldout_embeddings.npz"


@pytest.fixture(scope="module")
def heldout() -> tuple[list, np.ndarray]:
    with np.load(EMBEDDINGS, allow_pickle=False) as stored:
        vectors = stored["embeddings"].astype(np.float32)
    return read_outcomes(HELDOUT), vectors


def test_the_sample_is_from_the_split_training_never_saw(heldout) -> None:
    artifact = load_artifact()
    rows, _ = heldout
    assert {artifact.split.split_of(row.text) for row in rows} == {"test"}
    assert artifact.training["rows"]["test"] >= len(rows)


def test_the_stored_embeddings_are_the_embedders_own(heldout, embedder) -> None:
    rows, vectors = heldout
    fresh = embedder.embed([row.text for row in rows[:4]])
    assert np.all(np.sum(fresh * vectors[:4], axis=1) > 0.999)


@pytest.mark.parametrize("dataset", ["gsm8k", "mmlu"])
def test_the_shipped_router_beats_random_and_length_on_held_out_prompts(heldout, dataset: str) -> None:
    rows, vectors = heldout
    keep = [i for i, row in enumerate(rows) if row.id.startswith(dataset)]
    subset = [rows[i] for i in keep]
    views = [RequestView(row.messages, vectors[i]) for row, i in zip(subset, keep)]
    q = pair_qualities(subset, CHEAP, PREMIUM)
    apgr = {
        classifier.name: routing_metrics(classifier.premium_need_batch(views), q.cheap, q.premium).apgr
        for classifier in (LogisticClassifier(load_artifact()), RandomClassifier(), LengthClassifier())
    }
    assert apgr["costroute-logistic"] > max(apgr["random"], apgr["length"]), apgr
    assert apgr["costroute-logistic"] > 0.6, apgr
