"""``make loadtest``: N concurrent users for a duration against two proxy replicas on loopback, with and without
costroute, in the same run.

Both fleets are the same LiteLLM proxy, two processes each, behind the same client-side round robin (a request
whose replica drops the connection is retried on the other, as a load balancer does), talking to stub tiers that
answer after ``--upstream-ms`` (200 ms):
- vanilla: the same proxy config less costroute: the tiers only, ``auto`` a plain alias of the premium tier (what
  a team without costroute does: every request to its priciest model, through the same ``openai/`` provider code
  path as costroute's hosted tiers), and LiteLLM's own callbacks (its Prometheus exporter) kept, since an operator
  runs those with or without costroute;
- costroute: every plugin on (semantic cache, router, budgets, spend ledger), sharing the real Redis and
  PostgreSQL.

The traffic is mixed: several tenants, repeats and paraphrases of popular questions, new easy questions, hard ones,
a quarter of them streamed. Both fleets get the same request sequence and the same pacing. Printed: throughput,
latency percentiles, error rate, cache-hit rate, tier shares, each fleet's proxy CPU per request and share of the
machine's cores, its event loop's lag (``bench/loop_lag_probe.py``, the same probe in both fleets), the load
average, costroute's added p50 over vanilla's, on all answers and on cache misses, and costroute's time per
stage and router decisions given up on (``costroute_stage_seconds``, ``costroute_decision_path_total``).

Two regimes, and the output says which one it measured:
- paced (the default, ``--think-s 8``): every user waits a think time (exponential, mean 8 s, seeded: the same
  waits for both fleets) before each request, as people read an answer before asking again. 200 users then offer
  about 200 / (8 + 0.2) = 24 requests/s, which the vanilla fleet serves with a fraction of this 2-core machine
  (about 16 ms of CPU each, a fifth of the cores), so its p50 stays near the 200 ms upstream plus its own few
  milliseconds, and the difference to costroute's p50 is the latency costroute adds to a request, which is what
  the goal (added p50 <= 15% of vanilla's) is about. A shorter think time loads this machine until the fleets queue;
- saturated (``--think-s 0``): a closed loop, each user asks again the moment it has its answer, so the load is
  whatever the proxies can serve. On a machine this small both fleets are CPU-bound (vanilla's own p50 becomes
  several times the upstream), so latency there measures queueing, i.e. CPU per request; this run's figures are
  throughput and proxy CPU per request, not added latency.

    python -m bench.loadtest --clients 200 --duration 120                 # acceptance run: paced, added p50
    python -m bench.loadtest --clients 200 --duration 120 --think-s 0     # saturated: throughput, CPU/request
    python -m bench.loadtest --clients 40 --duration 30 --think-s 0 --json out.json   # quick CPU figure
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench import PROXY_CONFIG, REPO
from costroute_plugins.harness.config_edits import (
    Document,
    callbacks_of,
    read_config,
    with_callbacks,
    with_costroute,
    with_team_keys,
    without_costroute,
    write_config,
)
from costroute_plugins.harness.load import Answer, Load, mixed_traffic
from costroute_plugins.harness.overhead import ADDED_MISS_P50_GOAL, added_p50, regime
from costroute_plugins.harness.proxy import Proxy, start_proxy, start_stub, tier_env
from costroute_plugins.percentile import percentile
from costroute_plugins.stages import STAGES, StageTime, stage_times

REDIS_URL = os.environ.get("COSTROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get("COSTROUTE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TEAMS = [f"load-{n}" for n in range(6)]
LOOP_LAG_PROBE = "bench.loop_lag_probe.probe"
#: The router's decisions costroute gave up on (baseline_tier) or LiteLLM cancelled (fallback_tier).
LATE_PATHS = ("route_degraded_late", "route_fallback_timeout")


def with_probe(document: Document) -> Document:
    """The event-loop lag probe registered beside the config's own callbacks (both fleets alike)."""
    return with_callbacks(document, [*callbacks_of(document), LOOP_LAG_PROBE])


def costroute_config(folder: Path, prefix: str, schema: str, replica: int) -> Path:
    document = with_costroute(read_config(PROXY_CONFIG), {
        "redis_url": REDIS_URL,
        "cache": {"enabled": True, "key_prefix": f"{prefix}cache:"},
        "budget": {"key_prefix": f"{prefix}budget:", "budgets": [
            {"name": "load-daily", "scope": "team", "period": "daily", "limit_usd": 1000, "soft_limit": 0.8,
             "action": "downgrade"}]},
        "spend": {"ledger": {"enabled": True, "dsn": POSTGRES_DSN, "db_schema": schema,
                             "spool_path": str(folder / f"spool-{replica}.jsonl")}},
    })
    return write_config(folder / f"costroute-{replica}.yaml", with_probe(with_team_keys(document)))


def vanilla_config(folder: Path) -> Path:
    """The same proxy less costroute, every ``auto`` request to the premium tier."""
    vanilla = without_costroute(read_config(PROXY_CONFIG), auto_as="premium")
    return write_config(folder / "vanilla.yaml", with_probe(with_team_keys(vanilla)))


def summary(name: str, answers: list[Answer], duration_s: float) -> dict:
    ok = [a for a in answers if a.ok]
    errors = [a for a in answers if not a.ok]
    misses = [a for a in ok if a.cache != "hit"]
    tiers = Counter(a.tier or "?" for a in ok)
    return {
        "fleet": name,
        "requests": len(answers),
        "throughput_rps": round(len(answers) / duration_s, 1),
        "error_rate": round(len(errors) / max(len(answers), 1), 4),
        "errors": Counter(f"{a.status} {(a.error or '')[:80]}" for a in errors).most_common(5),
        "p50_ms": round(percentile([a.latency_s for a in ok], 0.50) * 1000, 1),
        "p90_ms": round(percentile([a.latency_s for a in ok], 0.90) * 1000, 1),
        "p99_ms": round(percentile([a.latency_s for a in ok], 0.99) * 1000, 1),
        "miss_p50_ms": round(percentile([a.latency_s for a in misses], 0.50) * 1000, 1),
        "cache_hit_rate": round(sum(a.cache == "hit" for a in ok) / max(len(ok), 1), 4),
        "tier_shares": {tier: round(count / max(len(ok), 1), 3) for tier, count in sorted(tiers.items())},
        "streamed_share": round(sum(a.ask.stream for a in answers) / max(len(answers), 1), 3),
    }


def cpu_seconds(fleet: list[Proxy]) -> float | None:
    """CPU time the fleet's proxy processes have used (Linux /proc; None elsewhere). Per request, it is the cost
    figure that a busy shared machine distorts least: latency there mostly measures the other tenants."""
    total = 0.0
    try:
        for proxy in fleet:
            fields = Path(f"/proc/{proxy.managed.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


def loop_lag(folder: Path, fleet_name: str, since: float, until: float) -> dict:
    """The fleet's event-loop lag while it served the run: percentiles of the probe's delays (ms)."""
    delays: list[float] = []
    for path in folder.glob(f"lag-{fleet_name}.*"):
        for line in path.read_text().splitlines():
            sample = json.loads(line)
            if since <= sample["t"] <= until:
                delays += sample["delays_s"]
    if not delays:
        return {"loop_lag_p50_ms": None, "loop_lag_p99_ms": None, "loop_lag_max_ms": None}
    return {"loop_lag_p50_ms": round(percentile(delays, 0.50) * 1000, 1),
            "loop_lag_p99_ms": round(percentile(delays, 0.99) * 1000, 1),
            "loop_lag_max_ms": round(max(delays) * 1000, 1)}


def scrape(proxy: Proxy) -> str:
    with proxy.http(f"sk-team-{TEAMS[0]}") as http:  # the fleets authenticate team keys (``with_team_keys``)
        return http.get("/metrics/", follow_redirects=True).text


def decision_paths(exposition: str) -> dict[str, float]:
    """``costroute_decision_path_total`` by path, from one scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    return {sample.labels["path"]: sample.value for family in text_string_to_metric_families(exposition)
            if family.name == "costroute_decision_path" for sample in family.samples
            if sample.name.endswith("_total")}


def costroute_stages(before: list[str], after: list[str]) -> dict:
    """Per stage, what both replicas observed between the scrapes: count, mean, p50, p99 (ms); and the router
    decisions that came too late, by path."""
    stages: dict[str, StageTime] = {}
    for earlier, later in zip(before, after, strict=True):
        then, now = stage_times(earlier), stage_times(later)
        for stage, time_ in now.items():
            during = time_.since(then[stage]) if stage in then else time_
            stages[stage] = stages[stage].plus(during) if stage in stages else during
    paths_before = [decision_paths(text) for text in before]
    paths_after = [decision_paths(text) for text in after]
    late = {path: int(sum(a.get(path, 0.0) - b.get(path, 0.0) for a, b in zip(paths_after, paths_before,
                                                                             strict=True)))
            for path in LATE_PATHS}
    table = {stage: {"count": int(t.count), "mean_ms": round(t.mean_s * 1000, 2),
                     "p50_ms": round(t.quantile(0.5) * 1000, 2), "p99_ms": round(t.quantile(0.99) * 1000, 2)}
             for stage in STAGES if (t := stages.get(stage)) is not None and t.count}
    return {"stages": table, "late_decisions": late}


def drive(fleet: list[Proxy], clients: int, duration_s: float, seed: int,
          think_s: float = 0.0) -> tuple[list[Answer], dict]:
    """The answers, and the fleet's CPU while it served them: milliseconds per request, and the share of the
    machine's cores it kept busy (how close to saturation the run was)."""
    traffic = mixed_traffic(TEAMS, seed=seed, unique_prefix=f"s{seed}")
    before, started = cpu_seconds(fleet), time.monotonic()
    # Bounded by its duration only: Load's default request cap (10,000) cut a saturated vanilla run short.
    answers = Load([p.url for p in fleet], traffic, clients=clients, duration_s=duration_s, timeout_s=120,
                   max_requests=sys.maxsize, think_s=think_s, think_seed=seed).start().join()
    after, elapsed = cpu_seconds(fleet), time.monotonic() - started
    if before is None or after is None:
        return answers, {"proxy_cpu_ms_per_request": None, "proxy_cpu_cores_share": None}
    return answers, {"proxy_cpu_ms_per_request": round(1000 * (after - before) / max(len(answers), 1), 1),
                     "proxy_cpu_cores_share": round((after - before) / elapsed / (os.cpu_count() or 1), 3)}


def drop_run_data(prefix: str, schema: str) -> None:
    """Remove what a run's costroute fleet left behind: its Redis keys and its ledger schema."""
    import psycopg
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load per fleet (default 120)")
    parser.add_argument("--upstream-ms", type=float, default=200.0, help="stub tier latency (default 200 ms)")
    parser.add_argument("--think-s", type=float, default=8.0,
                        help="mean think time before each request, exponential, seeded (default 8 s: paced, "
                             "below vanilla's saturation); 0 = saturated closed loop")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    prefix, schema = f"costroute-load:{uuid.uuid4().hex[:8]}:", f"costroute_load_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stubs = {tier: start_stub(tier, folder, latency_ms=args.upstream_ms) for tier in ("cheap", "balanced",
                                                                                           "premium")}
        env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
        started = time.monotonic()
        vanilla = [start_proxy(vanilla_config(folder), folder,
                               env={**env, "COSTROUTE_LOOP_LAG_FILE": str(folder / "lag-vanilla")})
                   for _ in range(2)]
        ours = [start_proxy(costroute_config(folder, prefix, schema, n), folder,
                            env={**env, "COSTROUTE_LOOP_LAG_FILE": str(folder / "lag-costroute")})
                for n in range(2)]
        pacing = f"mean think time {args.think_s:g} s" if args.think_s > 0 else "no think time (closed loop)"
        print(f"4 proxies and 3 stubs up in {time.monotonic() - started:.0f} s; {args.clients} clients x "
              f"{args.duration:.0f} s per fleet, {pacing}, upstream {args.upstream_ms:.0f} ms", flush=True)
        try:
            for proxy in vanilla + ours:  # a fresh proxy's first requests are slow: keep them out of the figures
                drive([proxy], 2, 3, seed=0)
            # The same seed: both fleets see the same request sequence.
            results = []
            for name, fleet in (("vanilla", vanilla), ("costroute", ours)):
                load_before = os.getloadavg()[0]
                scraped = [scrape(proxy) for proxy in fleet] if fleet is ours else []
                since = time.time()
                answers, cpu = drive(fleet, args.clients, args.duration, 1, args.think_s)
                results.append({**summary(name, answers, args.duration), **cpu,
                                **loop_lag(folder, name, since, time.time()),
                                "load_average_1m_before": round(load_before, 1),
                                "load_average_1m": round(os.getloadavg()[0], 1)})
                if fleet is ours:
                    results[-1].update(costroute_stages(scraped, [scrape(proxy) for proxy in fleet]))
        finally:
            for proxy in vanilla + ours:
                proxy.stop()
            for stub in stubs.values():
                stub.managed.stop()
            drop_run_data(prefix, schema)

    base, ours_ = results
    overhead = {
        "regime": regime(args.think_s, base["p50_ms"], args.upstream_ms),
        "added_p50_ms": round(ours_["p50_ms"] - base["p50_ms"], 1),
        "added_p50_share": round((ours_["p50_ms"] - base["p50_ms"]) / base["p50_ms"], 3),
        "added_miss_p50_ms": round(ours_["miss_p50_ms"] - base["miss_p50_ms"], 1),
        "added_miss_p50_share": round((ours_["miss_p50_ms"] - base["miss_p50_ms"]) / base["miss_p50_ms"], 3),
        "cpu_ratio": (round(ours_["proxy_cpu_ms_per_request"] / base["proxy_cpu_ms_per_request"], 3)
                      if ours_["proxy_cpu_ms_per_request"] and base["proxy_cpu_ms_per_request"] else None),
    }
    print(f"regime: {overhead['regime']}")
    for result in results:
        print(f"{result['fleet']:>9}: {result['requests']} requests, {result['throughput_rps']} req/s, "
              f"errors {result['error_rate']:.2%}, p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, "
              f"p99 {result['p99_ms']} ms, miss p50 {result['miss_p50_ms']} ms, cache hits "
              f"{result['cache_hit_rate']:.1%}, tiers {result['tier_shares']}, proxy CPU "
              f"{result['proxy_cpu_ms_per_request']} ms/request ({result['proxy_cpu_cores_share']:.0%} of "
              f"{os.cpu_count()} cores), event-loop lag p50 {result['loop_lag_p50_ms']} ms, p99 "
              f"{result['loop_lag_p99_ms']} ms, max {result['loop_lag_max_ms']} ms, load average "
              f"{result['load_average_1m_before']} -> {result['load_average_1m']}")
        if "late_decisions" in result:
            late = result["late_decisions"]
            print(f"           router decisions given up on: {late['route_degraded_late']} by costroute "
                  f"(baseline tier), {late['route_fallback_timeout']} by LiteLLM's timeout (fallback tier)")
            for stage, times in result["stages"].items():
                print(f"           stage {stage:<18} {times['count']:>6} x, mean {times['mean_ms']} ms, "
                      f"p50 {times['p50_ms']} ms, p99 {times['p99_ms']} ms")
        if result["errors"]:
            print(f"           errors: {result['errors']}")
    print(f"costroute added p50, all answers (cache hits included): "
          f"{added_p50(ours_['p50_ms'], base['p50_ms'])}")
    print(f"costroute added p50, cache misses only (answers that went upstream): "
          f"{added_p50(ours_['miss_p50_ms'], base['miss_p50_ms'], ADDED_MISS_P50_GOAL)}")
    print(f"proxy CPU per request: {overhead['cpu_ratio']}x vanilla")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "overhead": overhead, "clients": args.clients,
                                         "duration_s": args.duration, "upstream_ms": args.upstream_ms,
                                         "think_s": args.think_s}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
