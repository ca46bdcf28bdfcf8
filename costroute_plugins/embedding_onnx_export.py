"""Makes a graph folder for ``embedding_onnx`` from a sentence-transformers folder's PyTorch weights, offline.

Done where the graph is first needed (a proxy's first start on a machine: some seconds, PyTorch's import
included), once per model: later starts load the graph and never import PyTorch. The graph is the transformer
plus mean pooling and normalisation, so one call gives the finished vector, and it is exported with PyTorch's
TorchScript-based exporter, which needs the ``onnx`` package only.

A graph is kept only if it gives sentence-transformers' own result on ``PROBES`` (short, long past the token
window, non-Latin, code), each text alone and all in one padded batch: the same tokens, and vectors at a cosine of
at least ``MIN_COSINE``. It is written to a temporary folder beside its place and renamed into it, so no process
reads a half-written graph, and two processes exporting at once end with one complete folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.embedding_onnx import (
    GRAPH_FILE,
    META_FILE,
    MIN_COSINE,
    OUTPUT,
    SCHEMA,
    GraphMeta,
    OnnxEmbedder,
    OnnxUnavailable,
)

OPSET = 17
PROBES = (
    "hi",
    "What is the capital of France?",
    "HELLO, World! How ARE you doing today?",
    "Café, déjà vu, naïve façade: accents and ligatures",
    "日本語のテキストです 🤖 with an emoji",
    "def square(x):\n    return x ** 2  # tabs\tand newlines",
    "Derive the Black-Scholes equation from first principles, then solve it for a European call option. " * 12,
)
#: The exported pipelines: a transformer and mean pooling; the graph normalises whether or not the folder does,
#: as every embedder returns unit-length vectors.
PIPELINES = (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])


def export_graph(model_path: Path, name: str, fingerprint: str, folder: Path) -> float:
    """Export, check and install the graph of ``model_path`` at ``folder``; returns the least probe cosine.
    Raises ``OnnxUnavailable`` (or the exporter's own error) when no faithful graph could be made."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    # Attention written out as matrix products, not PyTorch's fused kernel: ONNX Runtime ran that graph ~10% faster
    # on the MT-Bench prompts, with the same vectors.
    model = SentenceTransformer(str(model_path), device="cpu", model_kwargs={"attn_implementation": "eager"})
    kinds = [type(module).__name__ for module in model]
    if kinds not in PIPELINES:
        raise OnnxUnavailable(f"{model_path} is a pipeline of {kinds}; only a transformer with mean pooling is "
                              "exported (set embedding_backend: torch for this model)")
    encoder: Any = model[0]  # sentence-transformers' Transformer module; ``.model`` is the Hugging Face model
    window, dim = model.max_seq_length, model.get_embedding_dimension()
    if not (window and dim):
        raise OnnxUnavailable(f"{model_path} states no token window or dimension (sentence_bert_config.json)")
    features = model.preprocess(list(PROBES[:2]))
    inputs = tuple(key for key in ("input_ids", "attention_mask", "token_type_ids") if key in features)

    class Pooled(torch.nn.Module):
        """The transformer, then the mean of its token states under the attention mask, then unit length."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(inputs, tensors))
            hidden = self.transformer(**named)[0]
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        axes = {key: {0: "batch", 1: "tokens"} for key in inputs} | {OUTPUT: {0: "batch"}}
        with torch.no_grad(), warnings.catch_warnings():
            # The exporter's deprecation notice and its tracer's notes on Python values taken as constants; the
            # probes below check the graph on other batch sizes and lengths than the traced ones.
            warnings.simplefilter("ignore")
            torch.onnx.export(Pooled(encoder.model).eval(), tuple(features[key] for key in inputs),
                              str(staging / GRAPH_FILE), dynamo=False, input_names=list(inputs),
                              output_names=[OUTPUT], dynamic_axes=axes, opset_version=OPSET)
        meta = GraphMeta(SCHEMA, name, fingerprint, inputs, window, dim, min_cosine=0.0)
        meta.write(staging)
        cosine = _faithful(model, OnnxEmbedder(model_path, name, fingerprint, staging))
        dataclasses.replace(meta, min_cosine=round(cosine, 7)).write(staging)
        try:
            os.replace(staging, folder)
        except OSError:  # another process installed the same graph first: theirs stays
            if not (folder / META_FILE).is_file():
                raise
        return cosine
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _faithful(model: Any, graph: OnnxEmbedder) -> float:
    """The least cosine between the graph's vectors and sentence-transformers' on ``PROBES``, alone and batched;
    raises ``OnnxUnavailable`` when the tokens differ or the cosine is below ``MIN_COSINE``."""
    texts = list(PROBES)
    features = model.preprocess(texts)
    theirs = [ids[mask.bool()].tolist() for ids, mask in zip(features["input_ids"], features["attention_mask"])]
    if graph.token_ids(texts) != theirs:
        raise OnnxUnavailable("tokenizer.json tokenises the probe texts differently from sentence-transformers")
    reference = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    together = graph.embed(texts)
    alone = np.vstack([graph.embed([text]) for text in texts])
    cosine = float(min((together * reference).sum(axis=1).min(), (alone * reference).sum(axis=1).min()))
    if cosine < MIN_COSINE:
        raise OnnxUnavailable(f"the ONNX graph's vectors differ from PyTorch's (least cosine {cosine:.6f} on the "
                              f"probe texts, {MIN_COSINE} needed)")
    return cosine
