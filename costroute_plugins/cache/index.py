"""Nearest-neighbour search over cached prompt embeddings.

Vectors are unit length, so inner product is cosine similarity. A small cache uses an exact flat index (no
training, exact answers); past ``ivf_at`` entries it is rebuilt, in the background, as an IVF index, which keeps a
lookup at about a millisecond for a million entries and, unlike HNSW, supports removing entries by id. IVF can
only miss a neighbour (probing too few lists), never invent one, so it costs recall, not precision.
"""

from __future__ import annotations

import math
import threading
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
    """FAISS inner-product index over one scope's entries: flat while small, IVF past ``ivf_at``.

    Re-clustering for a new size (k-means over tens of thousands of vectors) takes seconds at a million
    entries, so with ``background=True`` it runs on a thread over a snapshot while the current index keeps
    serving and taking adds and removes; those are replayed onto the new index before it replaces the old one
    (at the next call, in the caller's thread, so callers need no extra locking).
    """

    def __init__(self, dim: int, *, ivf_at: int = 50_000, nprobe: int = 16, seed: int = 0,
                 background: bool = True) -> None:
        if ivf_at < 1000:
            raise ValueError(f"ivf_at={ivf_at}: an IVF index needs at least 1000 vectors to train; raise ivf_at")
        self.dim = dim
        self.ivf_at = ivf_at
        self.nprobe = nprobe
        self.seed = seed
        self.background = background
        self._ids: set[int] = set()
        self._index: faiss.Index = self._flat()
        self._trained_for = 0  # size the IVF lists were trained for; 0 while flat
        self._building: threading.Thread | None = None
        self._built: tuple[faiss.Index, int] | None = None  # set by the builder thread, installed by a caller
        self._pending: list[tuple[str, np.ndarray, np.ndarray | None]] = []  # changes made while building

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def kind(self) -> str:
        self._install_built()
        return "ivf" if self._trained_for else "flat"

    @property
    def rebuilding(self) -> bool:
        return self._building is not None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._ids

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        self._install_built()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self.remove([i for i in ids if int(i) in self._ids])  # re-adding an id replaces its vector
        id_array = np.asarray(ids, dtype=np.int64)
        self._index.add_with_ids(vectors, id_array)
        self._ids.update(int(i) for i in id_array)
        if self._building is not None:
            self._pending.append(("add", id_array, vectors))
        elif self._needs_rebuild():
            self._start_rebuild()

    def remove(self, ids: Sequence[int]) -> None:
        self._install_built()
        present = [int(i) for i in ids if int(i) in self._ids]
        if not present:
            return
        id_array = np.asarray(present, dtype=np.int64)
        self._index.remove_ids(id_array)
        self._ids.difference_update(present)
        if self._building is not None:
            self._pending.append(("remove", id_array, None))
        elif self._trained_for and len(self._ids) <= self.ivf_at // 2:
            self._start_rebuild()

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self._install_built()
        if not self._ids:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dim)
        similarities, ids = self._index.search(query, min(k, len(self._ids)))
        return [(int(i), float(s)) for i, s in zip(ids[0], similarities[0]) if i != -1]

    def wait(self, timeout: float | None = None) -> None:
        """Blocks until a background rebuild has finished and is in use (tests, benchmarks, snapshots)."""
        building = self._building
        if building is not None:
            building.join(timeout)
        self._install_built()

    def _needs_rebuild(self) -> bool:
        n = len(self._ids)
        return (not self._trained_for and n > self.ivf_at) or bool(self._trained_for and n > 4 * self._trained_for)

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._trained_for:
            ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
            return ids, self._index.index.reconstruct_n(0, self._index.ntotal)
        parts = [get_invlist(self._index.invlists, lst) for lst in range(self._index.nlist)]
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1].view(np.float32).reshape(-1, self.dim) for p in parts])
        return ids, vectors

    def _start_rebuild(self) -> None:
        ids, vectors = self._contents()  # copies: the live index keeps changing while the new one is built
        if not self.background:
            self._index, self._trained_for = self._build(ids, vectors)
            return
        self._pending = []

        def build() -> None:
            self._built = self._build(ids, vectors)

        self._building = threading.Thread(target=build, name="costroute-ivf-rebuild", daemon=True)
        self._building.start()

    def _install_built(self) -> None:
        """Swaps in a finished background build after replaying the changes made meanwhile."""
        if self._building is None or self._building.is_alive():
            return
        self._building.join()
        self._building = None
        built, self._built = self._built, None
        if built is None:  # the builder failed (logged by the thread); keep serving the current index
            return
        index, trained_for = built
        for op, ids, vectors in self._pending:
            if op == "add":
                index.remove_ids(ids)
                index.add_with_ids(vectors, ids)
            else:
                index.remove_ids(ids)
        self._pending = []
        self._index, self._trained_for = index, trained_for
        if self._needs_rebuild():
            self._start_rebuild()

    def _build(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[faiss.Index, int]:
        """An index for ``len(ids)`` entries: flat when small, IVF with ~4*sqrt(n) lists when large."""
        n = len(ids)
        if n <= self.ivf_at // 2:
            index, trained_for = self._flat(), 0
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
            # Removal by id through a hash table instead of a scan over every list: evictions stay O(1).
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
            trained_for = n
        index.add_with_ids(vectors, ids)
        return index, trained_for
