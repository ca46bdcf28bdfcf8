"""Decision latency of the router, embedding excluded: p50 / p99 of ``Router.decide`` in-process.

Usage: ``.venv/bin/python bench/bench_router.py [--data OUTCOMES.jsonl] [--artifact A.json] [--repeat 3]``.
Embeddings are random unit vectors: the router's cost does not depend on their values, and the proxy computes
the real one once per request for the cache anyway. Long prompts are included on purpose (a 27k-character
paste) because the p99 is set by the longest requests. Wall time is what a request waits; CPU time (this
thread's) is the router's own cost, unaffected by other processes competing for the cores. A second table adds
what the proxy does per request besides: a required_quality cap and the thumbs-down neighbour search at the
default bound of escalations (the proxy's figures are in ``bench_router_proxy``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from costroute_plugins.routing.base import EMBEDDING_DIM, RequestView
from costroute_plugins.routing.feedback import FeedbackService, FeedbackSettings
from costroute_plugins.routing.feedback_store import Escalation
from costroute_plugins.routing.outcomes import read_outcomes
from costroute_plugins.routing.router import load_router

_SAMPLE_DATA = "tests/data/routing_sample.jsonl"
ESCALATIONS = FeedbackSettings().max_escalations  # the default bound: the worst case per request


def _requests(path: str, rng: np.random.Generator) -> list[RequestView]:
    texts = [row.text for row in read_outcomes(path)]
    texts += ["def f(x):\n    return x * 2\n" * 1000, "hi", "Explain " + "why the sky is blue " * 400]
    vectors = rng.normal(size=(len(texts), EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chat = [{"role": "system", "content": "You are helpful."}, {"role": "assistant", "content": "Sure."}]
    return [RequestView([*chat, {"role": "user", "content": text}], vector) for text, vector in zip(texts, vectors)]


def main(argv: list[str] | None = None) -> None:
    """``argv`` from the command line when run directly; defaults under ``python -m bench``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=_SAMPLE_DATA)
    parser.add_argument("--artifact")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv or [])
    router = load_router(artifact=args.artifact)
    requests = _requests(args.data, np.random.default_rng(0))
    for request in requests[:20]:
        router.decide(request)  # warm caches and lazy imports before timing
    wall, cpu = [], []
    for _ in range(args.repeat):
        for request in requests:
            start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            router.decide(request)
            cpu.append(time.thread_time_ns() - start_cpu)
            wall.append(time.perf_counter_ns() - start_wall)
    print(f"decide() over {len(wall)} calls ({len(requests)} requests x {args.repeat}), embedding excluded:")
    _report(wall, cpu)
    feedback = _feedback_with_escalations(ESCALATIONS, np.random.default_rng(1))
    wall, cpu = [], []
    for _ in range(args.repeat):
        for request in requests:
            start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            router.decide(request, required_quality=0.98)
            feedback.floor("team:bench", request.embedding)
            cpu.append(time.thread_time_ns() - start_cpu)
            wall.append(time.perf_counter_ns() - start_wall)
    print(f"decide(required_quality) + thumbs-down neighbour search over {ESCALATIONS} escalations, "
          "embedding excluded (target p99 <= 2 ms):")
    _report(wall, cpu)


def _report(wall: list[int], cpu: list[int]) -> None:
    for label, timings in (("wall", wall), ("cpu ", cpu)):
        ms = np.array(timings) / 1e6
        print(f"  {label}: p50 {np.percentile(ms, 50):.3f} ms  p99 {np.percentile(ms, 99):.3f} ms  "
              f"max {ms.max():.3f} ms")


def _feedback_with_escalations(count: int, rng: np.random.Generator) -> FeedbackService:
    """The per-request feedback lookup at its configured worst: one tenant holding every escalation."""
    service = FeedbackService(FeedbackSettings(max_escalations=count), ["cheap", "balanced", "premium"])
    vectors = rng.normal(size=(count, EMBEDDING_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for index, vector in enumerate(vectors):
        service.store.add_escalation(Escalation("team:bench", "balanced", vector, time.time() + 3600), count)
    return service


if __name__ == "__main__":
    main(sys.argv[1:])
