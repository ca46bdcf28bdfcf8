"""Through the real proxy: the semantic cache answers repeats and paraphrases, and only where it should.

Tenants are teams authenticated by the proxy (``tests/support/tenant_auth.py`` stands in for LiteLLM's
database-backed keys); entries live in the real Redis under a prefix unique to this module.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from costroute_plugins.harness import config_edits as edits
from costroute_plugins.redis_clients import sync_client
from tests.conftest import REDIS_URL, isolated_redis_prefix
from tests.harness import PROXY_CONFIG, REPO, Proxy, Stub, free_port, start_proxy, tier_env, wait_until, write_config

CAPITAL = "What is the capital of France?"


def cache_config(path: Path, prefix: str, redis_url: str = REDIS_URL) -> Path:
    # Routing off: every auto request goes to the baseline (premium) tier, so answers are predictable here.
    return edits.write_config(path, edits.with_team_keys(edits.with_costroute(edits.read_config(PROXY_CONFIG), {
        "cache": {"enabled": True, "key_prefix": prefix}, "redis_url": redis_url, "routing": {"mode": "off"}})))


def start_cache_proxy(config: Path, logs: Path, stubs: dict[str, Stub]) -> Proxy:
    return start_proxy(config, logs, env={**tier_env(stubs), "PYTHONPATH": str(REPO)})


def ask(proxy: Proxy, text: str | list[dict], team: str = "a", **kwargs):
    messages = [{"role": "user", "content": text}] if isinstance(text, str) else text
    client = proxy.client(api_key=f"sk-team-{team}")
    return client.chat.completions.with_raw_response.create(model="auto", messages=messages, **kwargs)


def served(stubs: dict[str, Stub]) -> int:
    return sum(len(stub.received()) for stub in stubs.values())


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    """One Redis prefix shared by this module's two proxy replicas."""
    yield from isolated_redis_prefix("cache:")


@pytest.fixture(scope="module")
def cache_proxies(stubs, process_logs: Path, prefix: str, tmp_path_factory) -> Iterator[tuple[Proxy, Proxy]]:
    """Two proxy replicas sharing the same Redis, as an operator runs them behind a load balancer."""
    config = cache_config(tmp_path_factory.mktemp("cache") / "config.yaml", prefix)
    first = start_cache_proxy(config, process_logs, stubs)
    second = start_cache_proxy(config, process_logs, stubs)
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
def proxy_a(cache_proxies, fresh_stubs) -> Proxy:
    return cache_proxies[0]


def test_a_repeated_prompt_is_served_from_cache_without_calling_the_tier(proxy_a: Proxy, fresh_stubs):
    first = ask(proxy_a, CAPITAL)
    again = ask(proxy_a, CAPITAL)

    assert first.headers["x-costroute-cache"] == "miss"
    assert again.headers["x-costroute-cache"] == "hit"
    assert again.headers["x-costroute-cache-similarity"] == "1.0000"
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert served(fresh_stubs) == 1


def test_a_paraphrase_is_served_the_original_answer(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "How do I reverse a list in Python?")

    paraphrase = ask(proxy_a, "how can I reverse a list in python")

    assert paraphrase.headers["x-costroute-cache"] == "hit"
    assert 0.8 < float(paraphrase.headers["x-costroute-cache-similarity"]) <= 1.0
    assert paraphrase.parse().choices[0].message.content.endswith("How do I reverse a list in Python?")


def test_a_question_about_something_else_is_not_served_anothers_answer(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "What is the boiling point of water at sea level in Celsius?")

    other = ask(proxy_a, "What is the boiling point of water at sea level in Fahrenheit?")

    assert other.headers["x-costroute-cache"] == "miss"
    assert other.parse().choices[0].message.content.endswith("in Fahrenheit?")


def test_tenant_b_never_receives_tenant_a_entry(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "Summarise our Q3 roadmap", team="a")

    other_tenant = ask(proxy_a, "Summarise our Q3 roadmap", team="b")
    same_tenant = ask(proxy_a, "Summarise our Q3 roadmap", team="a")

    assert other_tenant.headers["x-costroute-cache"] == "miss"
    assert same_tenant.headers["x-costroute-cache"] == "hit"
    assert served(fresh_stubs) == 2


def test_a_prompt_with_pii_is_never_stored(proxy_a: Proxy, fresh_stubs, prefix: str):
    text = "Draft a reply to jane.doe@example.com about her invoice"

    first, second = ask(proxy_a, text), ask(proxy_a, text)

    assert (first.headers["x-costroute-cache"], second.headers["x-costroute-cache"]) == ("miss", "miss")
    client = sync_client(REDIS_URL)
    stored = [client.hgetall(key) for key in client.scan_iter(match=prefix + "e:*") if client.type(key) == b"hash"]
    assert stored, "other tests stored entries, so the scan itself works"
    assert not any(b"jane.doe@example.com" in value for entry in stored for value in entry.values())


def test_a_long_conversation_hits_only_with_the_same_earlier_turns(proxy_a: Proxy, fresh_stubs):
    turns = []
    for index in range(9):
        turns += [{"role": "user", "content": f"step {index}: add {index} to the total"},
                  {"role": "assistant", "content": f"total is now {sum(range(index + 1))}"}]
    conversation = [{"role": "system", "content": "You are a calculator."}, *turns[:18],
                    {"role": "user", "content": "So what is the total?"}]
    changed = [dict(m) for m in conversation]
    changed[5] = {"role": "user", "content": "step 2: add 200 to the total"}

    first, repeat, other_history = ask(proxy_a, conversation), ask(proxy_a, conversation), ask(proxy_a, changed)

    assert len(conversation) == 20
    assert first.headers["x-costroute-cache"] == "miss"
    assert repeat.headers["x-costroute-cache"] == "hit"
    assert other_history.headers["x-costroute-cache"] == "miss"


def test_a_streaming_request_is_served_from_cache_as_a_stream(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "Name three primary colours")

    stream = proxy_a.client(api_key="sk-team-a").chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Name three primary colours"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text == "[premium] answer to: Name three primary colours"
    assert served(fresh_stubs) == 1


def test_no_cache_request_control_is_honoured(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "Tell me a fact about owls")

    fresh = ask(proxy_a, "Tell me a fact about owls", extra_body={"cache": {"no-cache": True}})

    assert fresh.headers["x-costroute-cache"] == "bypass"
    assert served(fresh_stubs) == 2


def test_an_entry_written_through_one_replica_is_served_by_the_other(cache_proxies, fresh_stubs):
    first, second = cache_proxies

    written = ask(first, "Which planet is known as the red planet?")
    read = ask(second, "Which planet is known as the red planet?")

    assert written.headers["x-costroute-cache"] == "miss"
    assert read.headers["x-costroute-cache"] == "hit"
    assert served(fresh_stubs) == 1


def test_cache_outcomes_are_counted_in_prometheus(proxy_a: Proxy, fresh_stubs):
    ask(proxy_a, "Count this lookup")
    ask(proxy_a, "Count this lookup")

    with proxy_a.http(api_key="sk-team-a") as http:
        metrics = http.get("/metrics/", follow_redirects=True).text

    assert 'costroute_cache_lookups_total{result="miss"}' in metrics
    assert 'costroute_cache_lookups_total{result="hit"}' in metrics
    # LiteLLM counted the hits as cache hits, with the cost they avoided: the spend plugin adds that up.
    saved = [line for line in metrics.splitlines() if line.startswith('costroute_savings_usd_total{kind="cache"}')]
    assert saved and float(saved[0].split()[-1]) > 0


def ask_at_once(proxy: Proxy, asks: list[tuple[str, str]], stream: bool = False) -> list[tuple[int, str, str]]:
    """Send every ``(team, prompt)`` ask at the same moment; each one's status, ``x-costroute-cache`` and answer."""

    async def one(client: httpx.AsyncClient, team: str, text: str) -> tuple[int, str, str]:
        body = {"model": "auto", "messages": [{"role": "user", "content": text}], "stream": stream}
        headers = {"Authorization": f"Bearer sk-team-{team}"}
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            raw = (await response.aread()).decode()
        if response.status_code != 200:
            answer = raw  # the error, for the assertion message
        elif not stream:
            answer = json.loads(raw)["choices"][0]["message"]["content"]
        else:
            chunks = [json.loads(line[6:]) for line in raw.splitlines()
                      if line.startswith("data: ") and line != "data: [DONE]"]
            answer = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])
        return response.status_code, response.headers.get("x-costroute-cache", ""), answer

    async def all_at_once() -> list[tuple[int, str, str]]:
        limits = httpx.Limits(max_connections=len(asks), max_keepalive_connections=len(asks))
        async with httpx.AsyncClient(base_url=proxy.url, timeout=120, limits=limits) as client:
            return list(await asyncio.gather(*(one(client, team, text) for team, text in asks)))

    return asyncio.run(all_at_once())


def shared_answers(proxy: Proxy) -> float:
    """Asks served the answer of an identical ask that was in flight (``costroute_cache_single_flight_total``)."""
    with proxy.http(api_key="sk-team-a") as http:
        metrics = http.get("/metrics/", follow_redirects=True).text
    line = 'costroute_cache_single_flight_total{outcome="shared"}'
    return sum(float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line))


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_fifty_identical_asks_at_once_reach_the_tier_once(proxy_a: Proxy, fresh_stubs, stream: bool):
    fresh_stubs["premium"].control(latency_ms=3000)  # the first ask is still upstream when the others arrive
    shared_before = shared_answers(proxy_a)
    prompt = f"Which ocean is the largest? ({'streamed' if stream else 'plain'})"

    answers = ask_at_once(proxy_a, [("a", prompt)] * 50, stream=stream)

    assert [status for status, _, _ in answers] == [200] * 50
    assert {answer for _, _, answer in answers} == {f"[premium] answer to: {prompt}"}
    assert sorted(cache for _, cache, _ in answers) == ["hit"] * 49 + ["miss"]
    assert served(fresh_stubs) == 1
    # Most waited for the first answer (49 here unless the host is too loaded to take them all in within 3 s;
    # any that arrive after it was stored are plain hits).
    assert shared_answers(proxy_a) - shared_before >= 25


def test_two_tenants_asking_the_same_prompt_at_once_never_share_an_answer(proxy_a: Proxy, fresh_stubs):
    fresh_stubs["premium"].control(latency_ms=2000)
    prompt = "Summarise our Q4 hiring plan"

    asks = [("a", prompt), ("b", prompt)] * 10

    answers = ask_at_once(proxy_a, asks)

    assert [status for status, _, _ in answers] == [200] * 20
    for team in ("a", "b"):  # each tenant's first ask went upstream; its others were served that tenant's answer
        outcomes = [cache for (asker, _), (_, cache, _) in zip(asks, answers, strict=True) if asker == team]
        assert sorted(outcomes) == ["hit"] * 9 + ["miss"]
    received = fresh_stubs["premium"].received()
    assert len(received) == 2
    assert all(row["body"]["messages"][-1]["content"] == prompt for row in received)


def test_when_the_first_ask_fails_upstream_the_identical_asks_waiting_for_it_still_get_answers(
    proxy_a: Proxy, fresh_stubs
):
    fresh_stubs["premium"].control(latency_ms=1500, fail_times=1, fail_status=500)
    prompt = "Which river is the longest?"

    answers = ask_at_once(proxy_a, [("a", prompt)] * 10)

    # The tier fails once: that ask gets its error, as it would alone; the nine waiting for it went upstream.
    assert sorted(status for status, _, _ in answers) == [200] * 9 + [500], answers
    assert {answer for status, _, answer in answers if status == 200} == {f"[premium] answer to: {prompt}"}
    assert served(fresh_stubs) == 10


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, callable, callable]]:
    """A Redis server of this test's own, so it can be stopped and started without touching the shared one."""
    port = free_port()

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: redis.Redis(port=port).ping(), 20, "private redis", process)
        return process

    holder = {"process": start()}

    def stop() -> None:
        holder["process"].terminate()
        holder["process"].wait(timeout=10)

    def restart() -> None:
        holder["process"] = start()

    yield f"redis://127.0.0.1:{port}/0", stop, restart
    if holder["process"].poll() is None:
        stop()


def test_redis_stopped_mid_run_bypasses_the_cache_and_resumes_when_back(
    private_redis, stubs, fresh_stubs, process_logs: Path, tmp_path: Path
):
    url, stop_redis, restart_redis = private_redis
    proxy = start_cache_proxy(cache_config(tmp_path / "config.yaml", "outage:", url), process_logs, stubs)
    try:
        ask(proxy, "What colour is the sky?")
        assert ask(proxy, "What colour is the sky?").headers["x-costroute-cache"] == "hit"

        stop_redis()
        during = [ask(proxy, "What colour is the sky?") for _ in range(3)]

        restart_redis()  # an empty Redis: the old entries are gone, caching starts over
        time.sleep(2.5)  # the cache retries the store after a short back-off
        refilled = ask(proxy, "What colour is grass?")
        after = ask(proxy, "What colour is grass?")
        with proxy.http(api_key="sk-team-a") as http:
            metrics = http.get("/metrics/", follow_redirects=True).text
    finally:
        proxy.stop()

    assert all(r.http_response.status_code == 200 for r in during)
    assert {r.headers["x-costroute-cache"] for r in during} == {"bypass"}
    assert refilled.headers["x-costroute-cache"] == "miss"
    assert after.headers["x-costroute-cache"] == "hit"
    assert 'costroute_plugin_degraded_total{plugin="cache"' in metrics
    assert "requests bypass the cache until the store answers" in proxy.log()
    assert "caching resumed" in proxy.log()
    assert json.loads(during[0].http_response.text)["choices"][0]["message"]["content"]


def test_without_redis_a_restart_keeps_the_cache_through_its_snapshot(stubs, fresh_stubs, process_logs, tmp_path):
    snapshot = tmp_path / "snapshots" / "cache"
    config = write_config(tmp_path / "config.yaml", costroute={
        "redis_url": None, "routing": {"mode": "off"}, "cache": {"enabled": True, "snapshot_path": str(snapshot)}})
    first = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        first.client().chat.completions.create(model="auto", messages=[{"role": "user", "content": "Keep me"}])
    finally:
        first.stop()
    second = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        again = second.client().chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Keep me"}])
    finally:
        second.stop()

    assert snapshot.with_suffix(".json").exists()
    assert again.headers["x-costroute-cache"] == "hit"
    assert served(fresh_stubs) == 1


def test_a_broken_verifier_artifact_turns_the_cache_off_and_the_proxy_serves_on(
    stubs, fresh_stubs, process_logs, tmp_path
):
    broken = tmp_path / "verifier.json"
    broken.write_text('{"schema_version": 2, "kind": "boosted"')  # truncated while being copied
    config = write_config(tmp_path / "broken.yaml", costroute={
        "redis_url": None, "cache": {"enabled": True, "verifier_artifact": str(broken)}})
    degraded = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        answers = [degraded.client().chat.completions.with_raw_response.create(
            model="cheap", messages=[{"role": "user", "content": "Name a prime number"}]) for _ in range(2)]
        with degraded.http() as http:
            metrics = http.get("/metrics/", follow_redirects=True).text
    finally:
        degraded.stop()

    assert [a.http_response.status_code for a in answers] == [200, 200]
    assert [a.headers["x-costroute-cache"] for a in answers] == ["bypass", "bypass"]
    assert served(fresh_stubs) == 2  # nothing served from a cache that cannot verify its hits
    assert "semantic cache OFF" in degraded.log() and str(broken) in degraded.log()
    assert 'costroute_plugin_degraded_total{plugin="cache",reason="artifact"} 1.0' in metrics
    assert 'costroute_plugin_up{plugin="cache"} 0.0' in metrics
