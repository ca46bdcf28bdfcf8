"""Through two real proxy replicas on a 3-master Redis Cluster (``redis_url: redis+cluster://...``): a budget
shared by both stops at its cap under concurrent requests, an answer cached through one is served by the other,
and a thumbs-down given to one replica moves the other's routing. The cluster is the session's own
(``redis_cluster``); ``COSTROUTE_TEST_REDIS_URL=redis+cluster://...`` runs the other proxy tests on one too."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openai import APIStatusError

from tests.conftest import isolated_redis_prefix
from tests.harness import REPO, Proxy, start_proxy, tier_env, write_config
from tests.support.redis_topologies import RedisClusterSet
from tests.waits import metric_sum, scrape

CAP = 0.05
EASY = "Translate 'good morning' into Spanish."
PARAPHRASE = "How do you say 'good morning' in Spanish?"
NO_CACHE = {"cache": {"no-cache": True}}


@pytest.fixture(scope="module")
def prefixes(redis_cluster: RedisClusterSet) -> Iterator[dict[str, str]]:
    """Key prefixes of this module's own on the cluster, one per part; emptied on every master afterwards."""
    parts = ("cache", "budget", "feedback")
    holders = [isolated_redis_prefix(f"{part}:", redis_url=redis_cluster.url) for part in parts]
    yield {part: next(holder) for part, holder in zip(parts, holders, strict=True)}
    for holder in holders:
        next(holder, None)


@pytest.fixture(scope="module")
def replicas(stubs, process_logs: Path, tmp_path_factory, redis_cluster: RedisClusterSet,
             prefixes: dict[str, str]) -> Iterator[tuple[Proxy, Proxy]]:
    """Two replicas of one config, as an operator runs them behind a load balancer, sharing the cluster."""
    config = write_config(tmp_path_factory.mktemp("cluster") / "config.yaml", costroute={
        "redis_url": redis_cluster.url,
        "cache": {"enabled": True, "key_prefix": prefixes["cache"]},
        "budget": {"key_prefix": prefixes["budget"], "budgets": [
            {"name": "shared-daily", "scope": "team", "match": "conc", "period": "daily", "limit_usd": CAP,
             "action": "throttle"}]},
        # Targets pinned so that the easy prompt's own tier is cheap (as in test_router_policy_proxy.py).
        "routing": {"tiers": [{"name": "cheap", "cost_per_mtok": 0.24},
                              {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": "quality>=0.98"},
                              {"name": "premium", "cost_per_mtok": 10.0, "enter_at": "quality>=0.95"}],
                    "tier_latency_ms": {"premium": 4000, "cheap": 200}, "holdout_fraction": 0,
                    "feedback": {"key_prefix": prefixes["feedback"], "refresh_s": 0}},
    }, team_keys=True)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    first = start_proxy(config, process_logs, env=env, timeout=300)
    second = start_proxy(config, process_logs, env=env, timeout=300)
    yield first, second
    first.stop()
    second.stop()


def ask(proxy: Proxy, text: str, team: str, model: str = "auto", **options):
    client = proxy.client(api_key=f"sk-team-{team}")
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **options)


def degraded(replicas: tuple[Proxy, Proxy]) -> float:
    """Plugin operations that failed and fell back (``costroute_plugin_degraded_total``) on both replicas: none
    may, or a test could pass on a fallback instead of the cluster."""
    return sum(metric_sum(scrape(proxy, "sk-team-metrics"), "costroute_plugin_degraded_total") for proxy in replicas)


def test_two_replicas_under_concurrent_requests_stop_within_one_request_of_a_shared_cap(replicas, fresh_stubs):
    fresh_stubs["premium"].control(completion_tokens=1000)  # each answer costs about $0.008

    def one(index: int) -> float:
        try:
            raw = ask(replicas[index % 2], f"Request {index}: plan the quarter", "conc", model="premium",
                      max_tokens=1000, extra_body=NO_CACHE)
        except APIStatusError as refused:
            assert refused.status_code == 429
            return 0.0
        return float(raw.headers["x-litellm-response-cost"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        costs = list(pool.map(one, range(20)))

    answered = [cost for cost in costs if cost > 0]
    assert 0 < len(answered) < 20
    assert sum(answered) <= CAP + max(answered)
    assert degraded(replicas) == 0


def test_an_answer_cached_through_one_replica_is_served_by_the_other(replicas, fresh_stubs):
    first, second = replicas

    written = ask(first, "Which planet is known as the red planet?", "a")
    read = ask(second, "Which planet is known as the red planet?", "a")

    assert written.headers["x-costroute-cache"] == "miss"
    assert read.headers["x-costroute-cache"] == "hit"
    assert sum(len(stub.received()) for stub in fresh_stubs.values()) == 1
    assert degraded(replicas) == 0


def test_a_thumbs_down_given_to_one_replica_sends_a_paraphrase_one_tier_up_on_the_other(replicas, fresh_stubs):
    first, second = replicas
    answer = ask(first, EASY, "fb", extra_body=NO_CACHE)

    with second.http(api_key="sk-team-fb") as http:
        rated = http.post("/costroute/feedback", json={"response_id": answer.parse().id, "rating": "down"})
    again = ask(first, PARAPHRASE, "fb", extra_body=NO_CACHE)

    assert answer.headers["x-costroute-tier"] == "cheap"
    assert rated.status_code == 200 and rated.json()["escalated_to"] == "balanced", rated.text
    assert again.headers["x-costroute-tier"] == "balanced"
    assert degraded(replicas) == 0
