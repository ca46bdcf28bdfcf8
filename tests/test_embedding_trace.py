"""The embedding model runs as a TorchScript trace (no GIL hand-offs inside a forward pass) with unchanged vectors."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from costroute_plugins.embedding import SentenceTransformerEmbedder, default_model_path


def test_the_traced_model_gives_the_eager_models_vectors_for_any_length_and_batch():
    embedder = SentenceTransformerEmbedder(threads=1)
    eager = SentenceTransformer(str(default_model_path()), device="cpu")
    texts = ["hi", "What is 12 times 12?", "Prove that there are infinitely many twin primes, or explain why not.",
             "日本語のテキストです", "word " * 400]

    together = embedder.embed(texts)
    alone = np.stack([embedder.embed([text])[0] for text in texts])

    assert type(embedder._model[0].model).__name__ == "TracedEncoder"
    reference = eager.encode(texts, normalize_embeddings=True)
    assert np.abs(together - reference).max() < 1e-5
    assert np.abs(alone - reference).max() < 1e-5
