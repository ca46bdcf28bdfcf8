"""Decision latency of the router, embedding excluded: p50 / p99 of ``Router.decide`` in-process.

Usage: ``.venv/bin/python bench/bench_router.py [--data OUTCOMES.jsonl] [--artifact A.json] [--repeat 3]``.
Embeddings are random unit vectors: the router's cost does not depend on their values, and the proxy computes
the real one once per request for the cache anyway. Long prompts are included on purpose (a 27k-character
paste) because the p99 is set by the longest requests. Wall time is what a request waits; CPU time (this
thread's) is the router's own cost, unaffected by other processes competing for the cores. A second table adds
what the proxy does per request besides: a required_quality cap and the thumbs-down neighbour search at the
default bound of escalations (the proxy's figures are in ``bench_router_proxy``).

On a shared machine the wall tail is mostly time spent waiting for a core, not the router's work, so each call
also records this thread's run-queue wait (``/proc/thread-self/schedstat``), involuntary context switches and
whether a garbage collection ran; the report splits the slowest 1% of calls by those causes and gives the
wall time minus the run-queue wait, i.e. what the decision takes once it holds a core.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from costroute_plugins.percentile import percentile
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
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    timings = _time_calls(lambda request: router.decide(request), requests, args.repeat)
    print(f"decide() over {len(timings.wall)} calls ({len(requests)} requests x {args.repeat}), embedding excluded:")
    _report(timings)
    feedback = _feedback_with_escalations(ESCALATIONS, np.random.default_rng(1))

    def decide_with_feedback(request: RequestView) -> None:
        router.decide(request, required_quality=0.98)
        feedback.floor("team:bench", request.embedding)

    timings = _time_calls(decide_with_feedback, requests, args.repeat)
    print(f"decide(required_quality) + thumbs-down neighbour search over {ESCALATIONS} escalations, "
          "embedding excluded (target p99 <= 2 ms with a core to run on):")
    _report(timings)


@dataclass
class Timings:
    """Per-call nanoseconds (wall, this thread's CPU, the process's CPU, run-queue wait) and tail causes."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    process_cpu: list[int] = field(default_factory=list)
    waited: list[int] = field(default_factory=list)
    switches: list[int] = field(default_factory=list)
    collected: list[bool] = field(default_factory=list)


def _run_queue_ns() -> int:
    """Nanoseconds this thread has spent runnable but waiting for a core (0 where the kernel does not say)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _time_calls(call: Callable[[RequestView], None], requests: list[RequestView], repeat: int) -> Timings:
    timings = Timings()
    collections = [0]

    def on_gc(phase: str, _info: dict) -> None:
        if phase == "start":
            collections[0] += 1

    gc.callbacks.append(on_gc)
    try:
        for _ in range(repeat):
            for request in requests:
                waited, switches = _run_queue_ns(), resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
                collected = collections[0]
                start_process = time.process_time_ns()
                start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                call(request)
                timings.cpu.append(time.thread_time_ns() - start_cpu)
                timings.wall.append(time.perf_counter_ns() - start_wall)
                timings.process_cpu.append(time.process_time_ns() - start_process)
                timings.waited.append(_run_queue_ns() - waited)
                timings.switches.append(resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches)
                timings.collected.append(collections[0] != collected)
    finally:
        gc.callbacks.remove(on_gc)
    return timings


def _report(timings: Timings) -> None:
    wall = np.array(timings.wall) / 1e6
    waited = np.minimum(np.array(timings.waited) / 1e6, wall)
    rows = (("wall", wall), ("thread cpu", np.array(timings.cpu) / 1e6),
            ("process cpu", np.array(timings.process_cpu) / 1e6), ("wall - run-queue wait", wall - waited))
    for label, ms in rows:
        values = ms.tolist()
        print(f"  {label:22s} p50 {percentile(values, 0.50):.3f} ms  p99 {percentile(values, 0.99):.3f} ms  "
              f"max {ms.max():.3f} ms")
    tail = wall >= percentile(wall.tolist(), 0.99)
    switches = np.array(timings.switches)[tail]
    print(f"  slowest 1% ({int(tail.sum())} calls): {waited[tail].sum() / wall[tail].sum():.0%} of their wall time "
          f"waiting for a core, {np.mean(switches > 0):.0%} preempted (mean {switches.mean():.1f} involuntary "
          f"switches), {int(np.array(timings.collected)[tail].sum())} with a garbage collection")


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
