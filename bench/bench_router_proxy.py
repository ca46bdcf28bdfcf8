"""What ``model: auto`` costs through the real proxy, against naming a tier directly, in the same run.

Stub tiers answer at once, so the figures are the proxy's own work. Requests alternate between ``auto`` and the
tier ``cheap`` named directly (the same prompts), so load from other processes falls on both alike. The gap is
costroute's routing path: LiteLLM's complexity router, the MiniLM embedding of the prompt (also what the semantic
cache would reuse), the classifier decision and the thumbs-down lookup. The in-process decision alone is
``bench_router``; the embedding's own time is printed beside it to show where the gap goes.
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

REQUESTS = 60


def _embedding_ms(prompts: list[str], threads: int | None = None) -> list[float]:
    """One prompt at a time, as the proxy embeds; ``threads`` caps torch's intra-op threads (None: its default)."""
    import torch

    from costroute_plugins.embedding import SentenceTransformerEmbedder

    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    timings = []
    for prompt in prompts:
        started = time.perf_counter()
        embedder.embed([prompt])
        timings.append((time.perf_counter() - started) * 1000)
    torch.set_num_threads(default)
    return timings


def main() -> None:
    prompts = [f"Give me a one-line summary of chapter {i} of a beginner's cooking book." for i in range(REQUESTS)]
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        stubs = {tier: start_stub(tier, logs) for tier in ("cheap", "balanced", "premium")}
        config = shipped_config(logs / "config.yaml", {"redis_url": None})
        proxy = start_proxy(config, logs, env=tier_env(stubs))
        timings: dict[str, list[float]] = {"auto": [], "cheap": []}
        tiers: dict[str, int] = {}
        try:
            client = proxy.client()
            for model in ("auto", "cheap"):  # warm both paths
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": "warm up"}])
            for prompt in prompts:
                for model in ("auto", "cheap"):
                    started = time.perf_counter()
                    raw = client.chat.completions.with_raw_response.create(
                        model=model, messages=[{"role": "user", "content": prompt}])
                    timings[model].append((time.perf_counter() - started) * 1000)
                    if model == "auto":
                        tier = raw.headers.get("x-costroute-tier", "?")
                        tiers[tier] = tiers.get(tier, 0) + 1
        finally:
            proxy.stop()
            for stub in stubs.values():
                stub.managed.stop()
    embedding, single = _embedding_ms(prompts[:20]), _embedding_ms(prompts[:20], threads=1)
    print(f"{REQUESTS} requests each, alternating, stub tiers at 0 ms, load average {os.getloadavg()[0]:.1f}; "
          f"auto served by {tiers}")
    for model, values in timings.items():
        label = "model auto (costroute routes)" if model == "auto" else "model cheap (named directly)"
        print(f"  {label:<32} p50 {statistics.median(values):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms")
    auto, direct = statistics.median(timings["auto"]), statistics.median(timings["cheap"])
    print(f"  routing overhead (p50 auto - p50 direct): {auto - direct:.1f} ms; ratio auto/direct {auto / direct:.2f}x")
    print(f"  of which MiniLM embedding in-process:     p50 {statistics.median(embedding):.1f} ms "
          f"p99 {percentile(embedding, 0.99):.1f} ms (shared with the cache; torch default threads)")
    print(f"  MiniLM embedding with 1 torch thread:     p50 {statistics.median(single):.1f} ms "
          f"p99 {percentile(single, 0.99):.1f} ms (less contention on a busy host)")


if __name__ == "__main__":
    main()
