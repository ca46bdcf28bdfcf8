"""Through the real proxy: an operator flushes the semantic cache, purges one tenant and deletes one prompt, on two
replicas sharing the real Redis, and reads entries and hit rate per tenant; no other key may do any of it.

Tenants are teams (``sk-team-<name>``) and the master key is a proxy admin (``tests/support/admin_team_auth.py``
stands in for an operator's auth). A repeat is asked with ``cache: {no-store: true}`` where a miss must not store
the answer again, so one replica's miss cannot refill the cache the other is checked against.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from costroute_plugins.cli import main
from costroute_plugins.harness import config_edits as edits
from tests.conftest import REDIS_URL, isolated_redis_prefix
from tests.harness import PROXY_CONFIG, REPO, Proxy, start_proxy, tier_env, wait_until
from tests.waits import cache_inserts

ADMIN_AUTH = "tests.support.admin_team_auth.user_api_key_auth"
ADMIN_ROUTES = (("GET", "/costroute/cache", None), ("POST", "/costroute/cache/flush", None),
                ("POST", "/costroute/cache/purge", {"tenant": "team:a"}),
                ("POST", "/costroute/cache/delete", {"tenant": "team:a", "prompt": "x"}),
                ("POST", "/cache/flushall", None))


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    yield from isolated_redis_prefix("cache-admin:")


@pytest.fixture(scope="module")
def replicas(stubs, process_logs: Path, prefix: str, tmp_path_factory) -> Iterator[tuple[Proxy, Proxy]]:
    """Two replicas on one Redis, routing off (every request goes to the premium stub)."""
    document = edits.with_costroute(edits.read_config(PROXY_CONFIG), {
        "cache": {"enabled": True, "key_prefix": prefix}, "redis_url": REDIS_URL, "routing": {"mode": "off"}})
    document["general_settings"] = {**(document.get("general_settings") or {}), "custom_auth": ADMIN_AUTH}
    config = edits.write_config(tmp_path_factory.mktemp("cache-admin") / "config.yaml", document)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    running = [start_proxy(config, process_logs, env=env) for _ in range(2)]
    yield running[0], running[1]
    for proxy in running:
        proxy.stop()


def ask(proxy: Proxy, text: str, team: str, store: bool = True) -> str:
    """The cache's verdict (``x-costroute-cache``) on one chat request of ``team``'s."""
    extra = {} if store else {"cache": {"no-store": True}}
    with proxy.http(api_key=f"sk-team-{team}") as http:
        response = http.post("/v1/chat/completions", json={
            "model": "auto", "messages": [{"role": "user", "content": text}], **extra})
    assert response.status_code == 200, response.text
    return response.headers["x-costroute-cache"]


def cached(proxy: Proxy, prefix: str, text: str, team: str) -> None:
    """Ask once and wait until the answer is stored (LiteLLM stores it after answering)."""
    before = cache_inserts(REDIS_URL, prefix)
    if ask(proxy, text, team) == "miss":
        wait_until(lambda: cache_inserts(REDIS_URL, prefix) > before, 30, f"{text!r} of team {team} to be cached")


def admin(proxy: Proxy, method: str, path: str, body: dict | None = None, key: str | None = None) -> httpx.Response:
    with proxy.http(api_key=key) as http:
        return http.request(method, path, json=body)


def entries(proxy: Proxy) -> int:
    response = admin(proxy, "GET", "/costroute/cache")
    assert response.status_code == 200, response.text
    return response.json()["total"]["entries"]


def test_purging_a_tenant_makes_its_repeats_miss_on_both_replicas_while_other_tenants_still_hit(replicas, prefix):
    first, second = replicas
    question = "What is the tallest mountain in Europe?"
    cached(first, prefix, question, "a")
    cached(second, prefix, question, "b")
    assert [ask(replica, question, team, store=False) for replica in replicas for team in "ab"] == ["hit"] * 4

    purged = admin(first, "POST", "/costroute/cache/purge", {"tenant": "team:a"})

    assert purged.status_code == 200 and purged.json()["removed"] >= 1, purged.text
    assert [ask(replica, question, "a", store=False) for replica in replicas] == ["miss", "miss"]
    assert [ask(replica, question, "b", store=False) for replica in replicas] == ["hit", "hit"]


def test_a_flush_empties_both_replicas_within_a_second(replicas, prefix):
    first, second = replicas
    question = "How many moons does Mars have?"
    for team in "ab":
        cached(first, prefix, question, team)
    assert entries(second) >= 2 and ask(second, question, "a", store=False) == "hit"

    flushed = admin(second, "POST", "/costroute/cache/flush")
    started = time.monotonic()

    assert flushed.status_code == 200 and flushed.json()["removed"] >= 2, flushed.text
    # Polled, not slept: as soon as neither replica has anything to serve.
    while not all(entries(replica) == 0 and ask(replica, question, team, store=False) == "miss"
                  for replica in replicas for team in "ab"):
        assert time.monotonic() - started < 1.0, "a replica still serves after the flush"
    assert time.monotonic() - started < 1.0


def test_litellms_own_flushall_empties_costroutes_cache(replicas, prefix):
    first, second = replicas
    cached(first, prefix, "Who wrote the novel Moby Dick?", "a")

    flushed = admin(first, "POST", "/cache/flushall")

    assert flushed.status_code == 200 and flushed.json()["status"] == "success", flushed.text
    assert entries(second) == 0 and ask(second, "Who wrote the novel Moby Dick?", "a", store=False) == "miss"


def test_deleting_one_prompt_leaves_the_tenants_other_answers(replicas, prefix):
    first, second = replicas
    deleted, kept = "What is the boiling point of water at sea level?", "What is the freezing point of water?"
    for text in (deleted, kept):
        cached(first, prefix, text, "a")

    answer = admin(second, "POST", "/costroute/cache/delete", {"tenant": "team:a", "prompt": deleted.upper()})

    assert answer.status_code == 200 and answer.json()["removed"] == 1, answer.text
    assert [ask(replica, deleted, "a", store=False) for replica in replicas] == ["miss", "miss"]
    assert [ask(replica, kept, "a", store=False) for replica in replicas] == ["hit", "hit"]


def test_stats_show_entries_bytes_and_hit_rate_per_tenant(replicas, prefix):
    first, second = replicas
    cached(first, prefix, "Which planet is closest to the sun?", "stats")
    assert ask(second, "Which planet is closest to the sun?", "stats") == "hit"

    row = admin(second, "GET", "/costroute/cache").json()["tenants"]["team:stats"]

    assert row["entries"] == 1 and row["bytes"] > 384 * 4
    assert (row["lookups"], row["hits"], row["hit_rate"]) == (2, 1, 0.5)


def test_a_key_that_is_not_a_proxy_admin_gets_403_on_every_admin_route(replicas, prefix):
    first, _second = replicas
    cached(first, prefix, "What is the largest ocean on Earth?", "a")
    before = entries(first)

    for method, path, body in ADMIN_ROUTES:
        refused = admin(first, method, path, body, key="sk-team-a")
        assert refused.status_code == 403, (path, refused.text)
        assert "proxy admin" in refused.json()["error"]["message"]
    assert entries(first) == before >= 1


def test_the_cli_administers_a_running_proxy(replicas, prefix, capsys):
    first, second = replicas
    cached(first, prefix, "What is the speed of light?", "cli")

    assert main(["cache", "stats", "--proxy", second.url, "--key", second.master_key]) == 0
    assert "team:cli" in capsys.readouterr().out
    assert main(["cache", "purge", "--tenant", "team:cli", "--proxy", first.url, "--key", first.master_key,
                 "--json"]) == 0
    assert '"removed": 1' in capsys.readouterr().out
    assert ask(second, "What is the speed of light?", "cli", store=False) == "miss"

    assert main(["cache", "flush", "--proxy", first.url, "--key", "sk-team-cli"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("costroute cache: error: ") and "HTTP 403" in err and len(err.splitlines()) == 1
