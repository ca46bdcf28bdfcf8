"""Embedding cost per call, PyTorch against ONNX Runtime on the same prompts in the same run: CPU ms and wall ms.

The proxy embeds each new prompt once (``EmbeddingMemo``), alone when it is quiet and in batches of up to 16
similar-length prompts under load (``EmbeddingBatcher``); this times both shapes for each engine:

- ``torch``: ``SentenceTransformerEmbedder`` (sentence-transformers, the TorchScript-traced transformer), the
  engine of ``embedding_backend: torch`` and the fallback of ``auto``;
- ``onnx``: ``OnnxEmbedder``, the default, on the graph exported from the same weights;

each with 1 thread per call and with 2 (the proxy's default: 2 on ONNX Runtime, 1 on PyTorch). CPU is the process's
(every thread of the engine counted; beside a busy thread, less that thread's), so it is the cost whatever else
runs; wall is what a caller waits. A third
scenario embeds single prompts while another thread runs Python without pause, as the proxy's event loop does:
each time an engine gives back the GIL it waits for it again (up to the 5 ms switch interval), so the wall time
there counts an engine's GIL hand-offs. On a shared machine absolute figures move with other load: each round
times every engine back to back, and the ratio within a round is the comparison. It also prints how long each
engine takes to load and the least cosine between their vectors.

    .venv/bin/python -m bench bench_embedding
    .venv/bin/python bench/bench_embedding.py [--rounds 3] [--data OUTCOMES.jsonl]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from costroute_plugins.embedding import Embedder, SentenceTransformerEmbedder
from costroute_plugins.embedding_backend import OnnxFirstEmbedder
from costroute_plugins.embedding_batcher import length_groups
from costroute_plugins.embedding_onnx import OnnxEmbedder
from costroute_plugins.routing.outcomes import read_outcomes

_PROMPTS = "tests/data/mt_bench_outcomes.jsonl"  # 80 chat questions, 38 to 1,642 characters
BATCH = 16  # the batcher's largest batch


@dataclass(frozen=True)
class Engine:
    label: str
    embedder: Embedder
    prepare: Callable[[], None]  # sets the engine's process-wide settings (torch's thread count) before timing


@dataclass(frozen=True)
class Cost:
    cpu_ms: float
    wall_ms: float


def _engines() -> tuple[list[Engine], dict[str, float]]:
    """The four engines, and each kind's load time (first call: model load, and for ONNX the graph's export when
    this machine has none yet)."""
    import torch

    loads = {}
    started = time.perf_counter()
    torch_embedder = SentenceTransformerEmbedder(threads=1)
    torch_embedder.embed(["load"])
    loads["torch"] = time.perf_counter() - started
    started = time.perf_counter()
    onnx_1 = OnnxFirstEmbedder(threads=1).engine
    onnx_1.embed(["load"])
    loads["onnx"] = time.perf_counter() - started
    if not isinstance(onnx_1, OnnxEmbedder):
        raise SystemExit("ONNX Runtime could not run the model here (see the warning above): nothing to compare")
    onnx_2 = OnnxEmbedder(onnx_1.model_path, onnx_1.name, onnx_1.meta.fingerprint, onnx_1.folder, threads=2)
    engines = [
        Engine("torch 1 thread", torch_embedder, lambda: torch.set_num_threads(1)),
        Engine("onnx 1 thread", onnx_1, lambda: None),
        Engine("torch 2 threads", torch_embedder, lambda: torch.set_num_threads(2)),
        Engine("onnx 2 threads", onnx_2, lambda: None),
    ]
    return engines, loads


def _time(calls: Sequence[Sequence[str]], embedder: Embedder) -> Cost:
    embedder.embed(calls[0])  # warm: first-call allocations are no per-request cost
    cpu, wall = time.process_time(), time.perf_counter()
    for texts in calls:
        embedder.embed(texts)
    return Cost((time.process_time() - cpu) * 1000 / len(calls), (time.perf_counter() - wall) * 1000 / len(calls))


def _time_beside_busy_loop(calls: Sequence[Sequence[str]], embedder: Embedder) -> Cost:
    """Per call while another thread keeps the interpreter busy; CPU is the process's less the busy thread's."""
    stop = threading.Event()
    busy_cpu = [0.0]  # the busy thread's own CPU seconds so far, refreshed every few microseconds

    def busy() -> None:
        while not stop.is_set():
            sum(range(500))
            busy_cpu[0] = time.thread_time()

    spinner = threading.Thread(target=busy, daemon=True)
    spinner.start()
    try:
        embedder.embed(calls[0])
        cpu, busy_before, wall = time.process_time(), busy_cpu[0], time.perf_counter()
        for texts in calls:
            embedder.embed(texts)
        wall, engine_cpu = time.perf_counter() - wall, time.process_time() - cpu - (busy_cpu[0] - busy_before)
        return Cost(engine_cpu * 1000 / len(calls), wall * 1000 / len(calls))
    finally:
        stop.set()
        spinner.join()


def _batches(prompts: list[str]) -> list[list[str]]:
    """Batches as the batcher makes them under load: up to 16 prompts, split into groups of similar length."""
    batches = []
    for start in range(0, len(prompts), BATCH):
        chunk = prompts[start:start + BATCH]
        batches += [[chunk[i] for i in group] for group in length_groups(chunk)]
    return batches


def _agreement(engines: list[Engine], prompts: list[str]) -> float:
    texts = [*prompts, "word " * 400, "Derive the Black-Scholes equation from first principles. " * 30]
    engines[0].prepare()
    reference = engines[0].embedder.embed(texts)
    onnx = engines[1].embedder
    together = onnx.embed(texts)
    alone = np.vstack([onnx.embed([text]) for text in texts])
    return float(min((together * reference).sum(axis=1).min(), (alone * reference).sum(axis=1).min()))


def main(argv: list[str] | None = None) -> None:
    """``argv`` from the command line when run directly; defaults under ``python -m bench``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=_PROMPTS, help="outcomes JSONL whose prompts are embedded")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    prompts = [row.text for row in read_outcomes(args.data)]
    import torch

    threads = torch.get_num_threads()  # restored at the end: ``python -m bench`` runs other benches after this one
    try:
        _run(prompts, args.rounds)
    finally:
        torch.set_num_threads(threads)


def _run(prompts: list[str], rounds: int) -> None:
    engines, loads = _engines()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"first call (load): torch {loads['torch']:.2f} s, onnx {loads['onnx']:.2f} s; least cosine onnx vs "
          f"torch over {len(prompts) + 2} prompts, alone and batched: {_agreement(engines, prompts):.7f}")
    scenarios: list[tuple[str, list[list[str]], Callable[[Sequence[Sequence[str]], Embedder], Cost]]] = [
        ("single prompt", [[prompt] for prompt in prompts], _time),
        (f"batches of <= {BATCH}", _batches(prompts), _time),
        ("single, busy event loop", [[prompt] for prompt in prompts[:40]], _time_beside_busy_loop),
    ]
    for scenario, calls, timer in scenarios:
        print(f"\n{scenario}: {len(calls)} calls of {sum(map(len, calls)) / len(calls):.1f} prompts "
              "(CPU ms / wall ms per call)")
        ratios: dict[str, list[float]] = {}
        for round_ in range(1, rounds + 1):
            costs = {}
            for engine in engines:
                engine.prepare()
                costs[engine.label] = timer(calls, engine.embedder)
            base = costs["torch 1 thread"]
            cells = []
            for label, cost in costs.items():
                cells.append(f"{label} {cost.cpu_ms:6.2f} / {cost.wall_ms:6.2f}")
                ratios.setdefault(f"{label} cpu", []).append(base.cpu_ms / cost.cpu_ms)
                ratios.setdefault(f"{label} wall", []).append(base.wall_ms / cost.wall_ms)
            print(f"  round {round_}: " + " | ".join(cells))
        print("  torch 1 thread / engine, median of rounds (>1: the engine is cheaper): " + ", ".join(
            f"{key} {statistics.median(values):.2f}x" for key, values in ratios.items()
            if not key.startswith("torch 1 thread")))


if __name__ == "__main__":
    main()
