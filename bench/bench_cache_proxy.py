"""Cache hit vs. miss latency through the real proxy, against a stub tier that takes 500 ms to answer.

Baseline and subject run in the same script: misses (new prompts, served by the slow tier) and hits (repeats
of them, served by costroute's semantic cache). Prints p50 / p99 of each and the hit speed-up ratio.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.harness import start_proxy, start_stub, tier_env, write_config

UPSTREAM_LATENCY_MS = 500
REQUESTS = 40


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        stubs = {tier: start_stub(tier, logs, latency_ms=UPSTREAM_LATENCY_MS) for tier in ("cheap", "balanced",
                                                                                             "premium")}
        config = write_config(logs / "config.yaml", costroute={"cache": {"enabled": True}, "redis_url": None})
        proxy = start_proxy(config, logs, env=tier_env(stubs))
        try:
            client = proxy.client()
            prompts = [f"Explain topic number {i} of the physics syllabus in two sentences." for i in range(REQUESTS)]

            def timed(prompt: str) -> float:
                started = time.perf_counter()
                client.chat.completions.create(model="auto", messages=[{"role": "user", "content": prompt}])
                return (time.perf_counter() - started) * 1000

            timed("warm-up request")
            misses = [timed(prompt) for prompt in prompts]
            hits = [timed(prompt) for prompt in prompts]
        finally:
            proxy.stop()
            for stub in stubs.values():
                stub.managed.stop()
    print(f"upstream stub latency: {UPSTREAM_LATENCY_MS} ms, {REQUESTS} prompts, in-process cache store")
    print(f"miss  p50 {statistics.median(misses):7.1f} ms  p99 {_percentile(misses, 0.99):7.1f} ms")
    print(f"hit   p50 {statistics.median(hits):7.1f} ms  p99 {_percentile(hits, 0.99):7.1f} ms")
    print(f"hit speed-up (miss p50 / hit p50): {statistics.median(misses) / statistics.median(hits):.1f}x "
          "(goal >= 20x)")


if __name__ == "__main__":
    main()
