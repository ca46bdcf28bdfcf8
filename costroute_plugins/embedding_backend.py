"""Which engine computes the embeddings (``costroute.embedding_backend``): ONNX Runtime when it can, else PyTorch.

``auto`` (the default) runs the model with ONNX Runtime (``embedding_onnx``: the same vectors for less CPU per
prompt and less waiting for the GIL), exporting its graph on first use, and falls back to PyTorch when that fails: logged, and counted
in ``costroute_plugin_degraded_total{plugin="embedding", reason="onnx_unavailable"}``, as the proxy then spends
more CPU per request than it was sized for. ``onnx`` makes that failure stop the start instead; ``torch`` always
runs PyTorch (sentence-transformers).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from costroute_plugins.embedding import (
    Embedder,
    SentenceTransformerEmbedder,
    default_model_path,
    missing_model,
    model_name,
)

EmbeddingBackend = Literal["auto", "onnx", "torch"]
#: Called with a reason when the embeddings run degraded (PyTorch in place of ONNX Runtime).
Degraded = Callable[[str], None]

log = logging.getLogger("costroute")


#: Threads per embedding on ONNX Runtime when the configuration names none. Two (spinning off, ``embedding_onnx``)
#: embed a lone prompt in ~7 instead of ~12 ms of wall for ~1 ms more CPU: in the paced load test a cache miss's
#: added p50 fell from +10.7% to +8.6-9.6%, and saturated, CPU per request and throughput stayed within the
#: spread of one thread's runs (docs/performance.md).
ONNX_THREADS = 2
#: The same for PyTorch: its threads spin, so beside a busy event loop a second one cost ~5x the CPU.
TORCH_THREADS = 1


def threads_or(threads: int | None, default: int) -> int:
    """The configured threads per embedding, or the engine's ``default`` when none is configured (0: one per
    core)."""
    return default if threads is None else threads


def build_embedder(model_path: str | os.PathLike[str] | None = None, backend: EmbeddingBackend = "auto",
                   threads: int | None = None, degraded: Degraded | None = None) -> Embedder:
    """The embedder for ``backend``; ``threads`` per embedding (None: each engine's default; 0: one per core)."""
    if backend == "torch":
        return SentenceTransformerEmbedder(model_path, threads=threads_or(threads, TORCH_THREADS) or None)
    return OnnxFirstEmbedder(model_path, threads, required=backend == "onnx", degraded=degraded)


class OnnxFirstEmbedder(Embedder):
    """ONNX Runtime, else PyTorch, chosen on first use (the proxy's warm-up at start): a process that never embeds
    neither loads a model nor exports a graph. The name is the model's whichever engine runs it, so router and
    verifier artifacts trained on PyTorch's vectors accept these."""

    def __init__(self, model_path: str | os.PathLike[str] | None = None, threads: int | None = None, *,
                 required: bool = False, degraded: Degraded | None = None) -> None:
        self._given = model_path
        self.model_path = Path(model_path) if model_path else default_model_path()
        if not self.model_path.is_dir():
            raise missing_model(self.model_path)
        self._name = model_name(model_path)
        self.threads = threads
        self.required = required
        self.degraded = degraded
        self._engine: Embedder | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Embedder:
        """The embedder doing the work, chosen on the first call."""
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._choose()
                engine = self._engine
        return engine

    def _choose(self) -> Embedder:
        from costroute_plugins.embedding_onnx import (
            OnnxEmbedder,
            OnnxUnavailable,
            graph_folder,
            model_fingerprint,
            require_runtime,
        )

        started = time.monotonic()
        try:
            require_runtime()
            fingerprint = model_fingerprint(self.model_path)
            folder = graph_folder(self._name, fingerprint)
            if not folder.is_dir():
                from costroute_plugins.embedding_onnx_export import export_graph

                cosine = export_graph(self.model_path, self._name, fingerprint, folder)
                log.info("embedding: exported %s to ONNX in %.1f s (least cosine to PyTorch's vectors %.7f): %s",
                         self._name, time.monotonic() - started, cosine, folder)
            engine = OnnxEmbedder(self.model_path, self._name, fingerprint, folder,
                                  threads_or(self.threads, ONNX_THREADS))
        except Exception as error:  # no ONNX Runtime, an export that failed or an unfaithful graph
            reason = error if isinstance(error, OnnxUnavailable) else f"{type(error).__name__}: {error}"
            if self.required:
                raise RuntimeError(f"costroute.embedding_backend is onnx, but ONNX Runtime cannot run {self._name}: "
                                   f"{reason}. Fix: remove that cause, or set costroute.embedding_backend: auto "
                                   "(PyTorch then serves when ONNX Runtime cannot)") from error
            log.warning("embedding: ONNX Runtime cannot run %s (%s); PyTorch computes the embeddings instead, at "
                        "more CPU and latency per request", self._name, reason)
            if self.degraded is not None:
                self.degraded("onnx_unavailable")
            return SentenceTransformerEmbedder(self._given, threads=threads_or(self.threads, TORCH_THREADS) or None)
        log.info("embedding: %s on ONNX Runtime, %s thread(s) per call (graph %s)", self._name,
                 threads_or(self.threads, ONNX_THREADS) or "one per core", folder)
        return engine

    @property
    def dim(self) -> int:
        return self.engine.dim

    @property
    def name(self) -> str:
        return self._name

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.engine.embed(texts, batch_size=batch_size, progress=progress)
