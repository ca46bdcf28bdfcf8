"""The vector index: exact while small, IVF when large, removal by id in both."""

from __future__ import annotations

import numpy as np
import pytest

from costroute_plugins.cache.index import FaissIndex


def _unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_search_returns_ids_with_cosine_similarity_best_first():
    vectors = _unit(50)
    index = FaissIndex(32)
    index.add(list(range(100, 150)), vectors)
    found = index.search(vectors[7], 3)
    assert found[0][0] == 107 and found[0][1] == pytest.approx(1.0, abs=1e-5)
    assert found[0][1] >= found[1][1] >= found[2][1]


def test_removed_and_replaced_ids_are_gone_from_results():
    vectors = _unit(10)
    index = FaissIndex(32)
    index.add(list(range(10)), vectors)
    index.remove([3, 999])
    assert 3 not in index and len(index) == 9
    assert all(entry_id != 3 for entry_id, _ in index.search(vectors[3], 9))
    index.add([4], vectors[5:6])  # re-adding an id replaces its vector
    assert index.search(vectors[5], 2)[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(index) == 9


def test_a_large_index_switches_to_ivf_keeps_finding_entries_and_shrinks_back_to_flat():
    vectors = _unit(2500, seed=1)
    index = FaissIndex(32, ivf_at=1000, nprobe=64)
    index.add(list(range(2500)), vectors)
    assert index.kind == "ivf"
    assert index.search(vectors[1234], 1)[0][0] == 1234
    index.remove(list(range(2000)))
    assert index.kind == "flat" and len(index) == 500
    assert index.search(vectors[2100], 1)[0][0] == 2100


def test_an_empty_index_finds_nothing():
    assert FaissIndex(8).search(np.ones(8, dtype=np.float32) / 8**0.5, 5) == []
