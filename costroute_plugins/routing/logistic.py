"""The trained classifier: logistic regression over hashed TF-IDF, the MiniLM embedding and structural counts.

Serving is plain numpy (a sparse dot, a 384-wide dot and a short dense one), so a decision costs well under a
millisecond and the proxy needs neither scikit-learn nor the training code at request time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.features import hashed_terms, structural_features, tfidf_matrix, tfidf_vector


def _sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


class LogisticClassifier(TierClassifier):
    """Scores with a ``RouterArtifact``. A request without an embedding is scored with the training-mean
    embedding in its place, i.e. on text and structure alone, rather than failing the request."""

    name = "costroute-logistic"

    def __init__(self, artifact: RouterArtifact) -> None:
        self.artifact = artifact
        arrays = artifact.arrays
        self._idf = arrays["idf"].astype(np.float64)
        self._w_text = arrays["w_text"].astype(np.float64)
        self._w_embedding = arrays["w_embedding"].astype(np.float64)
        self._mean_embedding_term = float(arrays["embedding_mean"] @ arrays["w_embedding"])
        self._w_structural = arrays["w_structural"] / arrays["structural_scale"]
        self._structural_offset = artifact.intercept - float(self._w_structural @ arrays["structural_mean"])

    def _structural_term(self, request: RequestView) -> float:
        features = structural_features(request.messages, request.text, self.artifact.hashing.max_chars)
        return float(self._w_structural @ features) + self._structural_offset

    def _embedding_term(self, embedding: np.ndarray | None) -> float:
        if embedding is None:
            return self._mean_embedding_term
        return float(self._w_embedding @ embedding)

    def premium_need(self, request: RequestView) -> float:
        buckets, values = tfidf_vector(request.text, self.artifact.hashing, self._idf)
        z = float(self._w_text[buckets] @ values) + self._embedding_term(request.embedding)
        return float(_sigmoid(z + self._structural_term(request)))

    def premium_need_batch(self, requests: Sequence[RequestView]) -> np.ndarray:
        hashing = self.artifact.hashing
        text = tfidf_matrix([hashed_terms(r.text, hashing) for r in requests], hashing, self._idf) @ self._w_text
        rest = np.array([self._embedding_term(r.embedding) + self._structural_term(r) for r in requests])
        return np.asarray(_sigmoid(text + rest))
