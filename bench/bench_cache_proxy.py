"""Cache hit vs. miss latency through the real proxy, against stub tiers that take 500 ms to answer.

Baseline and subject run in the same script and proxy:
- miss: a new prompt, answered by the slow tier (then stored);
- exact hit: the same prompt again; semantic hit: a rewording of it (exact tier misses, FAISS + verifier);
- floor: the same proxy with the cache bypassed (``cache: {no-cache: true}``) and the stub answering at once,
  i.e. what LiteLLM's own request handling costs; a hit cannot be cheaper than that.
Each is measured for ``model: auto`` (costroute's router embeds the prompt, and the cache reuses that
embedding) and for a tier named directly (no router: an exact hit needs no embedding at all).
Prints p50 / p99 of each and the hit speed-up ratio (miss p50 / hit p50; goal >= 20x).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench import shipped_config
from costroute_plugins.harness.proxy import start_proxy, start_stub, tier_env
from costroute_plugins.percentile import percentile

UPSTREAM_LATENCY_MS = 500
REQUESTS = 40


def _line(label: str, values: list[float]) -> str:
    return f"{label:<34} p50 {statistics.median(values):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        stubs = {tier: start_stub(tier, logs, latency_ms=UPSTREAM_LATENCY_MS)
                 for tier in ("cheap", "balanced", "premium")}
        config = shipped_config(logs / "config.yaml", {"cache": {"enabled": True}, "redis_url": None})
        proxy = start_proxy(config, logs, env=tier_env(stubs))
        results: dict[str, dict[str, list[float]]] = {}
        reworded: dict[str, dict[str, int]] = {}  # per model: x-costroute-cache outcomes of the rewordings
        try:
            client = proxy.client()

            outcomes: dict[str, int] = {}

            def timed(model: str, prompt: str, **extra) -> float:
                started = time.perf_counter()
                raw = client.chat.completions.with_raw_response.create(
                    model=model, messages=[{"role": "user", "content": prompt}], **extra)
                elapsed = (time.perf_counter() - started) * 1000
                outcome = raw.headers.get("x-costroute-cache", "none")
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                return elapsed

            for model in ("auto", "cheap"):
                timed(model, f"warm-up request for {model}")
                prompts = [f"Explain topic number {i} of the {model} physics syllabus in two sentences."
                           for i in range(REQUESTS)]
                rewordings = [f"Explain topic number {i} of the {model} physics syllabus in 2 sentences."
                              for i in range(REQUESTS)]
                for stub in stubs.values():
                    stub.control(latency_ms=UPSTREAM_LATENCY_MS)
                misses = [timed(model, p) for p in prompts]
                hits = [timed(model, p) for p in prompts]
                outcomes.clear()
                semantic = [timed(model, p) for p in rewordings]
                semantic_outcomes = dict(outcomes)
                for stub in stubs.values():
                    stub.control(latency_ms=0)
                floor = [timed(model, p, extra_body={"cache": {"no-cache": True}}) for p in prompts]
                results[model] = {"miss": misses, "exact hit": hits, "semantic hit (rewording)": semantic,
                                  "floor (no cache, 0 ms upstream)": floor}
                reworded[model] = semantic_outcomes
        finally:
            proxy.stop()
            for stub in stubs.values():
                stub.managed.stop()
    print(f"upstream stub latency: {UPSTREAM_LATENCY_MS} ms, {REQUESTS} prompts per row, in-process cache store, "
          f"load average {os.getloadavg()[0]:.1f}")
    for model, rows in results.items():
        print(f"model {model}: rewordings' x-costroute-cache outcomes {reworded[model]}")
        for label, values in rows.items():
            print("  " + _line(label, values))
        miss = statistics.median(rows["miss"])
        for label in ("exact hit", "semantic hit (rewording)"):
            print(f"  {label} speed-up (miss p50 / hit p50): {miss / statistics.median(rows[label]):.1f}x "
                  "(goal >= 20x)")


if __name__ == "__main__":
    main()
