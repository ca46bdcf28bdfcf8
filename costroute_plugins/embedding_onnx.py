"""The embedding model run by ONNX Runtime from a graph exported from its own PyTorch weights: the same vectors
(cosine >= 0.9999 to sentence-transformers', checked when the graph is made) for less CPU and far less waiting.

Why: the proxy embeds one prompt per request. Around the model's matrix products, PyTorch and sentence-transformers
spend milliseconds of Python per call (tokenising, building tensors, walking the module tree), each step holding
the GIL the proxy's event loop also wants. ONNX Runtime takes the token ids straight from the ``tokenizers``
library and runs the whole graph in C++ without the GIL: a chat prompt costs ~1.2x less CPU, and beside a busy
event loop takes 14 ms instead of 68 (``bench/bench_embedding.py``; docs/performance.md). A proxy that only serves
needs no PyTorch at all once the graph exists: it starts in a fraction of a second and ~300 MB smaller.

A graph lives in its own folder under ``embedding_disk.cache_root()/onnx``, named after the model and a digest of
the model folder's files, with ``meta.json`` saying what it was made from (``GraphMeta``): a graph of another
model, another schema or another export is never used. ``embedding_onnx_export`` makes the folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from tqdm import tqdm

from costroute_plugins.embedding import Embedder
from costroute_plugins.embedding_disk import cache_root

#: Bumped whenever the graph's inputs, outputs or the way it is made change: older folders are then not used.
SCHEMA = 1
GRAPH_FILE = "model.onnx"
META_FILE = "meta.json"
#: The graph's one output: unit-length sentence vectors (mean pooling and normalisation are inside it).
OUTPUT = "embedding"
#: The least cosine between a graph's vector and sentence-transformers' for the same text that a graph may show
#: on the probe texts to be used.
MIN_COSINE = 0.9999
#: The most padding tokens a text may get to share a model call with longer ones (``calls``).
PAD_TOKENS = 8


class OnnxUnavailable(Exception):
    """ONNX Runtime cannot serve this model here; the message says why and what would fix it."""


@dataclass(frozen=True)
class GraphMeta:
    """What a graph folder's ``meta.json`` records about the graph beside it."""

    schema: int
    model: str
    fingerprint: str  # ``model_fingerprint`` of the folder it was exported from
    inputs: tuple[str, ...]  # the graph's inputs, in the tokenizer's names
    max_seq_length: int  # tokens the model reads; longer texts are cut, as sentence-transformers cuts them
    dim: int
    min_cosine: float  # the least cosine to sentence-transformers' vectors measured on the probe texts

    def write(self, folder: Path) -> None:
        (folder / META_FILE).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def read(cls, folder: Path) -> GraphMeta:
        data = json.loads((folder / META_FILE).read_text())
        return cls(**{**data, "inputs": tuple(data["inputs"])})


def model_fingerprint(model_path: Path) -> str:
    """A digest of every file in the model folder (names and contents): a changed model gets a new graph, while
    the same model installed in several environments shares one. Hashing MiniLM's 91 MB takes ~0.1 s a start."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_path.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_path).as_posix().encode() + b"\0")
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def graph_folder(name: str, fingerprint: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "onnx" / f"{name}-{fingerprint[:16]}-schema{SCHEMA}"


def check_private(folder: Path) -> None:
    """A graph decides which cached answers count as the same question: only a folder this user owns and nobody
    else can write to is trusted (the default cache root is under /tmp)."""
    for path in (folder.parent, folder):
        info = path.stat()
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OnnxUnavailable(f"{path} is not owned by this user alone; remove it or set COSTROUTE_EMB_CACHE "
                                  "to a folder of this user's")


def calls(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of texts (by token count) grouped into model calls: sorted by length, at most ``batch_size`` a call,
    and no text padded by more than ``PAD_TOKENS``.

    Why so tight: past ~20 tokens the model's cost is its matrix products, linear in the tokens of the call, and a
    call's fixed cost in ONNX Runtime is ~1.5 ms, about what 10 tokens of compute cost. Padded up to twice their
    length (the batcher's groups by characters), chat prompts cost ~30% more in a batch than one at a time."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for index in order:
        if batches and len(batches[-1]) < batch_size and lengths[index] <= lengths[batches[-1][0]] + PAD_TOKENS:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def require_runtime() -> ModuleType:
    """The ``onnxruntime`` module, or ``OnnxUnavailable`` saying it is missing (before anything is exported)."""
    try:
        import onnxruntime
    except ImportError as error:
        raise OnnxUnavailable(f"{error}; install onnxruntime (a dependency of costroute-plugins)") from error
    return onnxruntime


class OnnxEmbedder(Embedder):
    """Runs a graph folder's ``model.onnx`` on CPU; tokenises with the model folder's ``tokenizer.json``.

    ``threads``: ONNX Runtime's intra-op threads for this model (0: one per core); the proxy's default is
    ``embedding_backend.ONNX_THREADS``."""

    def __init__(self, model_path: Path, name: str, fingerprint: str, folder: Path, threads: int = 1) -> None:
        from tokenizers import Tokenizer

        onnxruntime = require_runtime()
        self.model_path = model_path  # the cache reads the tokenizer's window from it (semantic_cache.py)
        self.folder = folder
        self._name = name
        try:
            self.meta = GraphMeta.read(folder)
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise OnnxUnavailable(f"{folder / META_FILE} cannot be read ({error})") from error
        if (self.meta.schema, self.meta.model, self.meta.fingerprint) != (SCHEMA, name, fingerprint):
            raise OnnxUnavailable(f"{folder} holds a graph of another model or schema; remove the folder")
        check_private(folder)
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.no_padding()  # each call pads to its own longest text (``_run``)
        self._tokenizer.enable_truncation(self.meta.max_seq_length)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Threads past the first wait for work without spinning: with 2 threads, spinning cost 21 against 12 ms of
        # CPU per chat prompt on the busy 2-core development machine (one thread); without spinning, 13.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = onnxruntime.InferenceSession(str(folder / GRAPH_FILE), options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a graph it cannot load
            raise OnnxUnavailable(f"ONNX Runtime cannot load {folder / GRAPH_FILE} ({error})") from error

    @property
    def dim(self) -> int:
        return self.meta.dim

    @property
    def name(self) -> str:
        return self._name

    @property
    def threads(self) -> int:
        """ONNX Runtime's intra-op threads per call, as the session runs them (0: one per core)."""
        return int(self._session.get_session_options().intra_op_num_threads)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's tokens as the graph reads them (cut at ``max_seq_length``)."""
        return [encoding.ids for encoding in self._encode(texts)]

    def _encode(self, texts: Sequence[str]) -> list:
        """One text at a time, holding the GIL (tens of microseconds for a prompt): ``encode_batch`` gives the GIL
        up, and beside a busy event loop taking it back cost up to the 5 ms switch interval (wall per prompt 19 ms
        against 14 ms, bench_embedding's busy-loop case)."""
        return [self._tokenizer.encode(text) for text in texts]

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Rows in the order of ``texts``; texts share a model call only when that costs no padding worth
        mentioning (``calls``)."""
        encodings = self._encode(texts)
        vectors = np.empty((len(encodings), self.dim), dtype=np.float32)
        batches = calls([len(encoding.ids) for encoding in encodings], batch_size)
        for rows in tqdm(batches, desc="embedding", unit="call", disable=not progress):
            vectors[rows] = self._run([encodings[i] for i in rows])
        return vectors

    def _run(self, encodings: list) -> np.ndarray:
        """One model call. Padding positions are masked out of attention and pooling, so their token id (0) never
        shows in a vector."""
        width = max(len(encoding.ids) for encoding in encodings)
        arrays = {name: np.zeros((len(encodings), width), dtype=np.int64)
                  for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            arrays["input_ids"][row, :length] = encoding.ids
            arrays["attention_mask"][row, :length] = 1
            arrays["token_type_ids"][row, :length] = encoding.type_ids
        (vectors,) = self._session.run([OUTPUT], {name: arrays[name] for name in self.meta.inputs})
        return vectors
