"""Routing fixtures: the MiniLM embedder loaded once per session, the sample outcome files, a small trained model.

Embeddings go through the on-disk cache (/tmp/costroute-emb-cache), so a rerun spends no time in the encoder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from costroute_plugins.embedding import SentenceTransformerEmbedder
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.training import TrainingOptions, train_router

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = DATA / "routing_sample.jsonl"
HELDOUT = DATA / "routing_heldout.jsonl"
CHEAP = "mistralai/Mixtral-8x7B-Instruct-v0.1"
PREMIUM = "gpt-4-1106-preview"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def small_artifact(embedder: SentenceTransformerEmbedder) -> RouterArtifact:
    """A router trained on the 200-row sample with a one-point search: quick, and enough to test plumbing."""
    options = TrainingOptions(regularisation=(1.0,), embedding_weights=(1.0,))
    return train_router([str(SAMPLE)], CHEAP, PREMIUM, embedder, options, progress=False)
