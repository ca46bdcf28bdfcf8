"""Semantic cache: lookup latency of the vector search at 10k/100k/1M entries, and bytes per entry.

Lookup: random unit vectors stand in for prompt embeddings (dim 384, all-MiniLM-L6-v2's). For each size the
index is built the way the cache builds it (flat, then IVF past ``ivf_at``, re-clustered in the background;
the figures are taken once the build is in use) and queried with perturbed stored vectors at cosine ~0.9 from
their entry, like a paraphrase. Embedding is excluded. ``self_recall`` is how often the entry came back first;
random vectors have no cluster structure, so IVF recall here is a pessimistic bound. The flat index at the same
size is the baseline where it is affordable (``flat_p50_ms``).

Bytes per entry: the FAISS index (serialised size), a whole in-process cache entry (process memory growth
while inserting entries with a 70-character prompt and a 500-byte response) and the same entry in Redis
(``MEMORY USAGE`` of its keys, every field counted) when Redis answers at ``COSTROUTE_BENCH_REDIS_URL`` (default 127.0.0.1:6379).

    .venv/bin/python -m bench bench_cache
    .venv/bin/python bench/bench_cache.py [--sizes 10000 100000 1000000] [--queries 2000] [--nprobe 16]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import faiss
import numpy as np

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.cache.index import FaissIndex
from costroute_plugins.cache.semantic_cache import SemanticCache
from costroute_plugins.embedding import Embedder
from costroute_plugins.percentile import percentile

DIM = 384
RESPONSE = {"id": "chatcmpl-bench", "object": "chat.completion", "model": "cheap",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "x" * 380}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 90, "total_tokens": 110}}


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def _latencies(index: FaissIndex, vectors: np.ndarray, queries: int, rng: np.random.Generator) -> tuple[list, int]:
    latencies, found = [], 0
    for target in rng.integers(0, len(vectors), queries):
        query = vectors[target] + 0.48 * unit_rows(rng, 1)[0]  # cosine ~0.9 to its entry, like a paraphrase
        query /= np.linalg.norm(query)
        started = time.perf_counter()
        result = index.search(query, 4)
        latencies.append((time.perf_counter() - started) * 1000)
        found += int(bool(result) and result[0][0] == target)
    return latencies, found


def bench(size: int, queries: int, nprobe: int, ivf_at: int, seed: int = 0) -> dict[str, float | str]:
    rng = np.random.default_rng(seed)
    vectors = np.empty((size, DIM), dtype=np.float32)
    for start in range(0, size, 100_000):
        vectors[start : start + 100_000] = unit_rows(rng, min(100_000, size - start))
    index = FaissIndex(DIM, ivf_at=ivf_at, nprobe=nprobe)
    started = time.perf_counter()
    for start in range(0, size, 100_000):  # batches, as a rebuild from the store would add them
        index.add(list(range(start, min(size, start + 100_000))), vectors[start : start + 100_000])
    index.wait()
    build_s = time.perf_counter() - started
    latencies, found = _latencies(index, vectors, queries, rng)
    row: dict[str, float | str] = {
        "entries": size,
        "kind": index.kind,
        "build_s": round(build_s, 1),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "self_recall": round(float(found) / queries, 3),
        "index_bytes_per_entry": round(len(faiss.serialize_index(index._index)) / size),
    }
    if index.kind == "ivf" and size <= 200_000:  # the exhaustive baseline, same queries' distribution
        flat = FaissIndex(DIM, ivf_at=10 * size)
        flat.add(list(range(size)), vectors)
        flat_latencies, _ = _latencies(flat, vectors, min(queries, 500), np.random.default_rng(seed + 1))
        row["flat_p50_ms"] = round(percentile(flat_latencies, 0.50), 3)
        row["speedup_p50"] = round(row["flat_p50_ms"] / row["p50_ms"], 1)
    return row


class _GivenVectors(Embedder):
    """The benchmark passes every vector in; embedding is not what is measured here."""

    dim = DIM
    name = "all-MiniLM-L6-v2"

    def embed(self, texts, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        raise AssertionError("the benchmark passes vectors explicitly")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def entry_bytes(entries: int = 50_000) -> dict[str, float | str]:
    """Memory per cached entry, in process and in Redis."""
    rng = np.random.default_rng(1)
    vectors = unit_rows(rng, entries)
    config = SemanticCacheConfig(max_entries=entries, learned_verifier=False)
    cache = SemanticCache.from_config(config, _GivenVectors())
    before = _rss_bytes()
    for i in range(entries):
        cache.insert("bench-scope", f"How do I configure feature number {i} of the product for a new team?", RESPONSE,
                     vector=vectors[i].copy())  # a fresh array per request, as the embedder returns
    row: dict[str, float | str] = {"entries": entries,
                                   "in_process_bytes_per_entry": round((_rss_bytes() - before) / entries)}
    row.update(_redis_bytes(vectors[:2000]))
    return row


def _redis_bytes(vectors: np.ndarray) -> dict[str, float | str]:
    import redis

    from costroute_plugins.cache.redis_store import RedisStore

    client = redis.Redis.from_url(os.environ.get("COSTROUTE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        client.ping()
    except redis.RedisError as error:
        return {"redis_bytes_per_entry": f"skipped ({type(error).__name__})"}
    store = RedisStore(client, prefix=f"costroute-bench:{uuid.uuid4().hex[:8]}:", max_entries=len(vectors),
                       stream_max_len=len(vectors))
    try:
        cache = SemanticCache.from_config(SemanticCacheConfig(learned_verifier=False), _GivenVectors(), store)
        for i, vector in enumerate(vectors):
            cache.insert("bench-scope", f"How do I configure feature number {i} of the product for a new team?",
                         RESPONSE, vector=vector)
        used = sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(match=f"{store.prefix}*", count=1000))
        return {"redis_bytes_per_entry": round(used / len(vectors))}
    finally:
        store.clear()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--nprobe", type=int, default=SemanticCacheConfig().nprobe)
    parser.add_argument("--ivf-at", type=int, default=SemanticCacheConfig().ivf_at)
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP threads; 1 suits one query at a time (the proxy's case) on a shared machine")
    parser.add_argument("--no-memory", action="store_true", help="skip the bytes-per-entry measurement")
    args = parser.parse_args([] if __name__ != "__main__" else None)
    faiss.omp_set_num_threads(args.threads)
    print(f"lookup latency, embedding excluded (nprobe {args.nprobe}, ivf_at {args.ivf_at}, "
          f"{args.threads} thread; goal p99 <= 5 ms at 1M); load average {os.getloadavg()[0]:.1f}", flush=True)
    if not args.no_memory:  # first: memory freed by the large indexes below would hide the growth
        print(entry_bytes(), flush=True)
    for size in args.sizes:
        print(bench(size, args.queries, args.nprobe, args.ivf_at), flush=True)


if __name__ == "__main__":
    main()
