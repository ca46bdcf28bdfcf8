"""Request embeddings for training and evaluation, cached on disk so reruns skip the slow encoder.

Serving never uses this: the proxy computes one embedding per request and passes it in the request view.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from costroute_plugins.embedding import Embedder

DEFAULT_CACHE_DIR = Path(os.environ.get("COSTROUTE_EMB_CACHE", "/tmp/costroute-emb-cache"))


def cached_embeddings(
    embedder: Embedder, texts: Sequence[str], *, cache_dir: Path = DEFAULT_CACHE_DIR, progress: bool = True
) -> np.ndarray:
    """Embeddings of ``texts`` in order, read from ``cache_dir`` when the same texts were embedded before."""
    digest = hashlib.sha256("\0".join([embedder.name, *texts]).encode()).hexdigest()[:24]
    path = cache_dir / f"routing-{embedder.name}-{len(texts)}-{digest}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return stored["embeddings"]
    vectors = embedder.embed(list(texts), progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp.npz")
    np.savez(partial, embeddings=vectors)
    partial.replace(path)
    return vectors
