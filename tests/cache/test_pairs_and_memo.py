"""Data set readers and the on-disk embedding memo used by the evaluation and training commands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from costroute_plugins.cache.pairs import PairsFormatError, load_pairs
from costroute_plugins.embedding_disk import DiskCachedEmbedder


def test_gptcache_mock_data_reads_as_duplicate_pairs(tmp_path):
    path = tmp_path / "mock_data.json"
    path.write_text(json.dumps([{"origin": "What is FAISS?", "similar": "Explain FAISS."}]))
    pair = load_pairs(path)[0]
    assert (pair.a, pair.b, pair.duplicate) == ("What is FAISS?", "Explain FAISS.", True)


def test_an_unknown_format_says_which_ones_are_accepted(tmp_path):
    with pytest.raises(PairsFormatError, match="use .jsonl"):
        load_pairs(tmp_path / "pairs.csv")


class CountingEmbedder:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.dim = inner.name, inner.dim

    def embed(self, texts, *, batch_size=64, progress=False):
        self.calls += len(texts)
        return self.inner.embed(texts)


def test_texts_embedded_once_are_read_back_from_disk_by_any_later_run(tmp_path, words_embedder):
    counting = CountingEmbedder(words_embedder)
    first = DiskCachedEmbedder(counting, tmp_path).embed(["a b", "c d"])
    again = DiskCachedEmbedder(counting, tmp_path).embed(["c d", "a b", "e f"])
    assert counting.calls == 3  # only "e f" was new
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
    assert DiskCachedEmbedder(counting, tmp_path).dim == 384


def test_a_part_of_a_pairs_file_is_selected_like_a_python_slice(tmp_path):
    from costroute_plugins.cache.pairs import Pair, PairsFormatError, load_pairs_spec, write_pairs

    path = tmp_path / "pairs.jsonl"
    write_pairs([Pair(f"q{i}", f"p{i}", i % 2 == 0) for i in range(10)], path)

    assert [p.a for p in load_pairs_spec(f"{path}@0::4")] == ["q0", "q4", "q8"]
    assert [p.a for p in load_pairs_spec(f"{path}@2:6")] == ["q2", "q3", "q4", "q5"]
    assert len(load_pairs_spec(str(path), limit=3)) == 3
    with pytest.raises(PairsFormatError, match="expected FILE@START:END"):
        load_pairs_spec(f"{path}@every-fourth")
