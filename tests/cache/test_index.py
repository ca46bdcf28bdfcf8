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
    index.wait()
    assert index.kind == "ivf"
    assert index.search(vectors[1234], 1)[0][0] == 1234
    index.remove(list(range(2000)))
    index.wait()
    assert index.kind == "flat" and len(index) == 500
    assert index.search(vectors[2100], 1)[0][0] == 2100


def test_an_empty_index_finds_nothing():
    assert FaissIndex(8).search(np.ones(8, dtype=np.float32) / 8**0.5, 5) == []


def test_the_index_keeps_serving_adds_removes_and_searches_while_it_is_rebuilt_in_the_background():
    vectors = _unit(1600, seed=2)
    index = FaissIndex(32, ivf_at=1000, nprobe=64)
    index.add(list(range(1001)), vectors[:1001])  # crosses ivf_at: the IVF build starts on a thread
    assert index.kind == "flat" or not index.rebuilding  # still the flat index unless the build was very fast
    index.add(list(range(1001, 1600)), vectors[1001:])  # made during the build, replayed onto the new index
    index.remove([5, 1500])
    assert index.search(vectors[1200], 1)[0][0] == 1200

    index.wait()

    assert index.kind == "ivf" and not index.rebuilding and len(index) == 1598
    assert index.search(vectors[1200], 1)[0][0] == 1200
    assert index.search(vectors[700], 1)[0][0] == 700
    assert all(entry_id not in (5, 1500) for entry_id, _ in index.search(vectors[5], 20))
    assert all(entry_id not in (5, 1500) for entry_id, _ in index.search(vectors[1500], 20))


def test_a_foreground_index_switches_to_ivf_within_the_add_call():
    index = FaissIndex(32, ivf_at=1000, background=False)
    index.add(list(range(1200)), _unit(1200, seed=3))
    assert index.kind == "ivf" and not index.rebuilding
