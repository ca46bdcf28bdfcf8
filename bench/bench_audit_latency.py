"""Quality audits add no latency to the client's answer: p50/p99 with every routed answer audited, against the same
proxy config with audits off, in the same run.

Two proxies on the same stub tiers (answers in 200 ms): one with ``quality.enabled`` and every answer served below
the top tier sampled, one without. Requests alternate between them (the same prompts), so load from other
processes falls on both alike. The cheaper tiers answer with long usage figures, so each request saves more than
an audit may cost and the share-of-savings cap admits every audit; each audit then makes three more calls (the
top tier's answer, two judge calls) in the background. Goal: the audited proxy's p50 within 10% of the other's.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import shipped_config
from costroute_plugins.harness.proxy import start_proxy, start_stub, tier_env
from costroute_plugins.percentile import percentile

REQUESTS = 60
GOAL_RATIO = 1.10
LONG_ANSWER = {"prompt_tokens": 1000, "completion_tokens": 100_000}
ROUTING = {"tiers": [{"name": "cheap", "cost_per_mtok": 0.24},
                     {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": "quality>=0.98"},
                     {"name": "premium", "cost_per_mtok": 10.0, "enter_at": "quality>=0.95"}]}


def _audits_judged(proxy) -> float:
    with proxy.http() as http:
        text = http.get("/metrics/", follow_redirects=True).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("costroute_quality_audits_total{") and 'outcome="judged"' in line)


def main() -> None:
    prompts = [f"Translate 'good morning' into Spanish, variant {i}." for i in range(REQUESTS)]
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        stubs = {tier: start_stub(tier, logs, latency_ms=200) for tier in ("cheap", "balanced", "premium")}
        for tier in ("cheap", "balanced"):
            stubs[tier].control(**LONG_ANSWER)
        quality = {"enabled": True, "routed_sample_rate": 1.0, "max_usd_per_day": 100.0,
                   "max_share_of_savings": 1.0}
        proxies = {}
        try:
            for name, section in (("audits off", {}), ("audits on", {"quality": quality})):
                config = shipped_config(logs / f"{name.replace(' ', '-')}.yaml",
                                        {"routing": ROUTING, "cache": {"enabled": False}, **section})
                proxies[name] = start_proxy(config, logs, env=tier_env(stubs))
            timings: dict[str, list[float]] = {name: [] for name in proxies}
            clients = {name: proxy.client() for name, proxy in proxies.items()}
            for client in clients.values():  # warm up
                client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "warm up"}])
            for prompt in prompts:
                for name, client in clients.items():
                    started = time.perf_counter()
                    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": prompt}])
                    timings[name].append((time.perf_counter() - started) * 1000)
            time.sleep(5)  # the last audits finish
            judged = _audits_judged(proxies["audits on"])
        except httpx.HTTPError as error:
            raise SystemExit(f"bench_audit_latency: {error}") from error
        finally:
            for proxy in proxies.values():
                proxy.stop()
            for stub in stubs.values():
                stub.managed.stop()

    print(f"{REQUESTS} requests each, alternating, stub tiers at 200 ms, load average {os.getloadavg()[0]:.1f}; "
          f"audits judged on the audited proxy: {judged:.0f}")
    for name, values in timings.items():
        print(f"  {name:<11} p50 {statistics.median(values):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms")
    ratio = statistics.median(timings["audits on"]) / statistics.median(timings["audits off"])
    verdict = "meets" if ratio <= GOAL_RATIO and judged > 0 else "MISSES"
    print(f"p50 ratio audits on / off: {ratio:.3f}x, {verdict} the <= {GOAL_RATIO:.2f}x goal")


if __name__ == "__main__":
    main()
