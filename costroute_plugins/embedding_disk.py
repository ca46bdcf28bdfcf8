"""An on-disk memo of embeddings for offline work (evaluation, verifier and router training), never serving.

Embedding 80k questions takes many minutes on a shared CPU; re-running an evaluation with another threshold,
a ``--limit`` or another split should not. Vectors are stored per text (keyed by the embedder's name and the
text's hash) in chunk files written as they are computed, so an interrupted run keeps its progress and a
changed model can never be served another model's vectors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from costroute_plugins.embedding import Embedder

CHUNK = 2048


def cache_root() -> Path:
    """Where costroute keeps what it derives from the embedding model: this memo's vectors and the ONNX graph
    (``embedding_onnx``). ``COSTROUTE_EMB_CACHE`` moves it, e.g. onto a volume a container keeps."""
    return Path(os.environ.get("COSTROUTE_EMB_CACHE") or "/tmp/costroute-emb-cache")


class DiskCachedEmbedder(Embedder):
    """Wraps an embedder; texts embedded before (by any call) are read from ``.npz`` chunk files."""

    def __init__(self, inner: Embedder, directory: str | os.PathLike[str] | None = None) -> None:
        self.inner = inner
        self.directory = Path(directory or cache_root()) / inner.name
        self._known: dict[str, np.ndarray] | None = None

    @property
    def dim(self) -> int:
        """Read from the stored vectors when there are any, so a fully memoised run never loads the model."""
        known = self._load()
        return len(next(iter(known.values()))) if known else self.inner.dim

    @property
    def name(self) -> str:
        return self.inner.name

    def _load(self) -> dict[str, np.ndarray]:
        if self._known is None:
            self._known = {}
            for path in sorted(self.directory.glob("chunk-*.npz")):
                with np.load(path, allow_pickle=False) as stored:
                    self._known.update(zip(stored["keys"].tolist(), stored["vectors"]))
        return self._known

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        known = self._load()
        keys = [hashlib.sha256(text.encode()).hexdigest()[:32] for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        text_of = dict(zip(keys, texts))
        self.directory.mkdir(parents=True, exist_ok=True)
        with tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress or not missing) as bar:
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                vectors = self.inner.embed([text_of[k] for k in chunk], batch_size=batch_size)
                path = self.directory / f"chunk-{chunk[0]}.npz"
                partial = path.with_name(path.stem + ".tmp.npz")
                np.savez(partial, keys=np.asarray(chunk), vectors=vectors)
                partial.replace(path)  # atomic: a killed run never leaves a truncated chunk behind
                known.update(zip(chunk, vectors))
                bar.update(len(chunk))
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(np.stack([known[k] for k in keys]), dtype=np.float32)
