"""Nearest-neighbour search over cached prompt embeddings.

Vectors are unit length, so inner product is cosine similarity. A small cache uses an exact flat index (no
training, exact answers); past ``ivf_at`` entries it is rebuilt as an IVF index, which keeps a lookup at a few
milliseconds for a million entries and, unlike HNSW, supports removing entries by id. IVF can only miss a
neighbour (probing too few lists), never invent one, so it costs recall, not precision.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import faiss
import numpy as np
from faiss.contrib.inspect_tools import get_invlist


class VectorIndex(ABC):
    """Ids are the entry store's ids; the index holds no other state worth persisting."""

    @abstractmethod
    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None: ...

    @abstractmethod
    def remove(self, ids: Sequence[int]) -> None:
        """Ids not in the index are ignored: removals arrive from eviction, expiry and other replicas."""

    @abstractmethod
    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (id, similarity) pairs, most similar first."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __contains__(self, entry_id: object) -> bool: ...


class FaissIndex(VectorIndex):
    def __init__(self, dim: int, *, ivf_at: int = 50_000, nprobe: int = 16, seed: int = 0) -> None:
        if ivf_at < 1000:
            raise ValueError(f"ivf_at={ivf_at}: an IVF index needs at least 1000 vectors to train; raise ivf_at")
        self.dim = dim
        self.ivf_at = ivf_at
        self.nprobe = nprobe
        self.seed = seed
        self._ids: set[int] = set()
        self._index: faiss.Index = self._flat()
        self._trained_for = 0  # size the IVF lists were trained for; 0 while flat

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def kind(self) -> str:
        return "ivf" if self._trained_for else "flat"

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._ids

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self.remove([i for i in ids if int(i) in self._ids])  # re-adding an id replaces its vector
        id_array = np.asarray(ids, dtype=np.int64)
        self._index.add_with_ids(vectors, id_array)
        self._ids.update(int(i) for i in id_array)
        if self._needs_rebuild():
            self._rebuild()

    def remove(self, ids: Sequence[int]) -> None:
        present = [int(i) for i in ids if int(i) in self._ids]
        if not present:
            return
        self._index.remove_ids(np.asarray(present, dtype=np.int64))
        self._ids.difference_update(present)
        if self._trained_for and len(self._ids) <= self.ivf_at // 2:
            self._rebuild()

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not self._ids:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dim)
        similarities, ids = self._index.search(query, min(k, len(self._ids)))
        return [(int(i), float(s)) for i, s in zip(ids[0], similarities[0]) if i != -1]

    def _needs_rebuild(self) -> bool:
        n = len(self._ids)
        return (not self._trained_for and n > self.ivf_at) or (self._trained_for and n > 4 * self._trained_for)

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._trained_for:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return ids, self._index.index.reconstruct_n(0, self._index.ntotal)
        parts = [get_invlist(self._index.invlists, lst) for lst in range(self._index.nlist)]
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1].view(np.float32).reshape(-1, self.dim) for p in parts])
        return ids, vectors

    def _rebuild(self) -> None:
        """Re-creates the index for its current size: flat when small, IVF with ~4*sqrt(n) lists when large."""
        ids, vectors = self._contents()
        n = len(ids)
        if n <= self.ivf_at // 2:
            self._index, self._trained_for = self._flat(), 0
        else:
            # ~4*sqrt(n) lists keeps a probe of 16 lists at a few thousand vectors even at a million entries;
            # 20 training points a list and 10 k-means rounds keep the rebuild to seconds, not minutes.
            nlist = max(16, min(int(4 * math.sqrt(n)), n // 20))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = self.seed
            index.cp.niter = 10
            index.cp.min_points_per_centroid = 20
            sample = np.random.default_rng(self.seed).choice(n, size=min(n, 20 * nlist), replace=False)
            index.train(vectors[np.sort(sample)])
            index.nprobe = self.nprobe
            self._index, self._trained_for = index, n
        self._index.add_with_ids(vectors, ids)
