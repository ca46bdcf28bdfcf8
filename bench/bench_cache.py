"""Lookup latency of the semantic cache's vector search, embedding excluded.

Random unit vectors stand in for prompt embeddings (dim 384, all-MiniLM-L6-v2's). For each size the index is
built the way the cache builds it (flat, then IVF past ``ivf_at``) and queried with slightly perturbed stored
vectors, which is what a cache hit looks like. Prints one line per size: build time, p50/p99 search latency
and how often the perturbed vector's own entry came back first (IVF trades that recall for speed).
Queries sit at cosine ~0.9 from their entry, like a paraphrase; random vectors have no cluster structure, so
IVF recall here is a pessimistic bound.

    .venv/bin/python bench/bench_cache.py [--sizes 10000 100000 1000000] [--queries 2000] [--nprobe 16]
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from costroute_plugins.cache.index import FaissIndex

DIM = 384


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def bench(size: int, queries: int, nprobe: int, ivf_at: int, seed: int = 0) -> dict[str, float | str]:
    rng = np.random.default_rng(seed)
    index = FaissIndex(DIM, ivf_at=ivf_at, nprobe=nprobe)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for start in range(0, size, 100_000):
        vectors[start : start + 100_000] = unit_rows(rng, min(100_000, size - start))
    started = time.perf_counter()
    for start in range(0, size, 100_000):  # batches, as a rebuild from the store would add them
        index.add(list(range(start, min(size, start + 100_000))), vectors[start : start + 100_000])
    build_s = time.perf_counter() - started
    latencies, found = [], 0
    for target in rng.integers(0, size, queries):
        query = vectors[target] + 0.48 * unit_rows(rng, 1)[0]  # cosine ~0.9 to its entry, like a paraphrase
        query /= np.linalg.norm(query)
        started = time.perf_counter()
        result = index.search(query, 4)
        latencies.append((time.perf_counter() - started) * 1000)
        found += bool(result) and result[0][0] == target
    return {
        "entries": size,
        "kind": index.kind,
        "build_s": round(build_s, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "self_recall": round(found / queries, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--ivf-at", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP threads; 1 suits one query at a time (the proxy's case) on a shared machine")
    args = parser.parse_args()
    faiss.omp_set_num_threads(args.threads)
    for size in args.sizes:
        print(bench(size, args.queries, args.nprobe, args.ivf_at), flush=True)


if __name__ == "__main__":
    main()
