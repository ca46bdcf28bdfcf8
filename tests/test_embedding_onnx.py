"""The embeddings run on ONNX Runtime by default, from a graph exported offline from the model's own PyTorch weights:
the same vectors as sentence-transformers, and PyTorch again (logged, counted) whenever ONNX cannot be used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.embedding import SentenceTransformerEmbedder, default_model_path
from costroute_plugins.embedding_backend import ONNX_THREADS, OnnxFirstEmbedder, build_embedder
from costroute_plugins.embedding_onnx import META_FILE, OnnxEmbedder, OnnxUnavailable, calls

PROMPTS = [
    "hi",
    "What is the capital of France?",
    "Write a haiku about autumn rain, then explain its imagery line by line.",
    "Résumé d'un naïf: qu'est-ce que la « déjà-vu » ?",
    "日本語で自己紹介してください 🤖",
    "def f(x):\n    return [i ** 2 for i in range(x)]\nWhat does f(4) return?",
    "Summarise this contract clause. " + "The party of the first part shall indemnify the second party. " * 60,
    "word " * 400,  # 400 tokens: past the model's 256-token window, cut as sentence-transformers cuts it
]


# A proxy's start as the embedding sees it: the model loaded and used once; prints the engine and whether PyTorch
# was imported.
RESTART = """
import sys
from costroute_plugins.embedding_backend import build_embedder
embedder = build_embedder()
embedder.embed(["hello"])
print(type(embedder.engine).__name__, "torch" in sys.modules)
"""


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder of this module's own, so the first use below exports a graph rather than finding one."""
    return tmp_path_factory.mktemp("emb-cache")


@pytest.fixture(scope="module")
def onnx(cache_root: Path) -> OnnxFirstEmbedder:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COSTROUTE_EMB_CACHE", str(cache_root))
        embedder = OnnxFirstEmbedder(threads=1)
        embedder.embed(["first use exports the graph"])
    return embedder


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """sentence-transformers' own vectors, the model run eagerly by PyTorch."""
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    return model.encode(PROMPTS, normalize_embeddings=True, convert_to_numpy=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_the_default_engine_gives_pytorchs_vectors_for_short_long_and_batched_prompts(onnx, reference):
    together = onnx.embed(PROMPTS)
    alone = np.stack([onnx.embed([prompt])[0] for prompt in PROMPTS])
    in_small_batches = onnx.embed(PROMPTS, batch_size=3)  # sorted by length, run in batches, rows back in order

    assert isinstance(onnx.engine, OnnxEmbedder)
    assert onnx.name == "all-MiniLM-L6-v2" and onnx.dim == 384  # what the shipped artifacts were trained with
    for vectors in (together, alone, in_small_batches):
        assert vectors.dtype == np.float32 and vectors.shape == (len(PROMPTS), 384)
        assert cosines(vectors, reference).min() >= 0.9999
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_graph_is_kept_with_what_it_was_made_from_and_a_restart_uses_it_without_pytorch(onnx, cache_root):
    folder = onnx.engine.folder
    meta = json.loads((folder / META_FILE).read_text())
    exported_at = (folder / "model.onnx").stat().st_mtime_ns

    restart = subprocess.run(
        [sys.executable, "-c", RESTART],
        env={**os.environ, "COSTROUTE_EMB_CACHE": str(cache_root)}, capture_output=True, text=True, timeout=120)

    assert meta["model"] == "all-MiniLM-L6-v2" and meta["schema"] == 1 and meta["min_cosine"] >= 0.9999
    assert meta["max_seq_length"] == 256 and meta["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert restart.returncode == 0, restart.stderr
    assert restart.stdout.split() == ["OnnxEmbedder", "False"]
    assert (folder / "model.onnx").stat().st_mtime_ns == exported_at  # loaded, not exported again
    assert [path.name for path in folder.parent.iterdir()] == [folder.name]  # no staging folder left behind


def copy_of_graph(onnx: OnnxFirstEmbedder, root: Path) -> Path:
    """The module's graph folder copied under another cache root, for tests that spoil it."""
    folder = onnx.engine.folder
    target = root / "onnx" / folder.name
    target.parent.mkdir(mode=0o700, parents=True)
    shutil.copytree(folder, target)
    return target


def test_a_graph_whose_record_names_another_model_is_refused_and_pytorch_serves(onnx, tmp_path, monkeypatch):
    folder = copy_of_graph(onnx, tmp_path)
    meta = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps(meta | {"fingerprint": "0" * 64}))
    monkeypatch.setenv("COSTROUTE_EMB_CACHE", str(tmp_path))
    reasons: list[str] = []

    embedder = build_embedder(degraded=reasons.append)
    vector = embedder.embed(["What is the capital of France?"])

    assert isinstance(embedder, OnnxFirstEmbedder) and isinstance(embedder.engine, SentenceTransformerEmbedder)
    assert reasons == ["onnx_unavailable"]
    assert float(cosines(vector, onnx.embed(["What is the capital of France?"]))[0]) >= 0.9999
    with pytest.raises(OnnxUnavailable, match="another model or schema"):
        OnnxEmbedder(onnx.model_path, onnx.name, meta["fingerprint"], folder)


def test_a_graph_folder_other_users_can_write_to_is_not_trusted(onnx, tmp_path):
    folder = copy_of_graph(onnx, tmp_path)
    folder.chmod(0o777)
    fingerprint = onnx.engine.meta.fingerprint

    with pytest.raises(OnnxUnavailable, match="not owned by this user alone"):
        OnnxEmbedder(onnx.model_path, onnx.name, fingerprint, folder)


def test_without_onnx_runtime_auto_falls_back_to_pytorch_and_onnx_stops_the_start(onnx, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed: importing it fails
    monkeypatch.setenv("COSTROUTE_EMB_CACHE", str(tmp_path))  # no graph there: nothing is exported without it
    reasons: list[str] = []

    fallback = build_embedder(backend="auto", degraded=reasons.append)
    vector = fallback.embed(["hello"])
    required = build_embedder(backend="onnx", degraded=reasons.append)

    assert isinstance(fallback.engine, SentenceTransformerEmbedder) and reasons == ["onnx_unavailable"]
    assert float(cosines(vector, onnx.embed(["hello"]))[0]) >= 0.9999
    with pytest.raises(RuntimeError, match="embedding_backend is onnx.*Fix: .*embedding_backend: auto"):
        required.embed(["hello"])
    assert reasons == ["onnx_unavailable"]  # a refused start is an error, not a degradation
    assert not (tmp_path / "onnx").exists()


def test_the_backend_is_chosen_in_the_config_and_a_typo_names_the_key():
    assert parse_config(None).embedding_backend == "auto"
    assert isinstance(build_embedder(backend="torch"), SentenceTransformerEmbedder)

    with pytest.raises(CostrouteConfigError, match=r"costroute\.embedding_backend: Input should be 'auto', 'onnx'"):
        parse_config({"embedding_backend": "onxx"})


def test_prompts_share_a_model_call_only_when_padding_them_costs_little():
    lengths = [5, 30, 6, 12, 100, 13, 14, 7]  # tokens per prompt

    assert calls(lengths, batch_size=3) == [[0, 2, 7], [3, 5, 6], [1], [4]]
    assert calls(lengths, batch_size=1) == [[0], [2], [7], [3], [5], [6], [1], [4]]
    assert calls([], batch_size=16) == []


def test_unset_threads_give_onnx_runtime_two_per_embedding_and_pytorch_one(onnx, cache_root, monkeypatch):
    monkeypatch.setenv("COSTROUTE_EMB_CACHE", str(cache_root))  # the graph the module's first use exported
    default, configured = build_embedder(), build_embedder(threads=3)
    default.embed(["hello"])
    configured.embed(["hello"])

    assert parse_config(None).embedding_threads is None
    assert default.engine.threads == ONNX_THREADS == 2
    assert configured.engine.threads == 3
    assert build_embedder(backend="torch").threads == 1  # PyTorch's threads spin beside a busy event loop
    assert build_embedder(backend="torch", threads=0).threads is None  # one per core
