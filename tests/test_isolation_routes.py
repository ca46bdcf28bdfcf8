"""Through the real proxy, on every route costroute touches: one team never reaches another's cache entries or
budget, whatever the client writes in its body or headers.

Two replicas share the real Redis (cache entries and budget counters) and the real PostgreSQL ledger, as a
deployment behind a load balancer does. Teams are keys the proxy authenticates (``tests/support/tenant_auth.py``
stands in for LiteLLM's database-backed keys). The stub upstream speaks every provider API these routes forward
to: chat completions, completions, the Responses API (where LiteLLM sends ``openai/`` models' ``/v1/messages``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import POSTGRES_DSN, REDIS_URL, isolated_redis_prefix
from tests.harness import REPO, Proxy, Stub, start_proxy, tier_env, wait_until, write_config
from tests.waits import cache_inserts, finished_requests, wait_until_finished

# An explicit premium request of 1000 prompt + 1000 completion tokens costs $0.01 at gpt-4.1's list prices.
PREMIUM_USAGE = {"prompt_tokens": 1000, "completion_tokens": 1000}
TEAM_CAP_USD = 0.05
ROUTES = ("chat", "completions", "messages", "responses")
METRICS_KEY = "sk-team-iso-metrics"  # custom auth accepts team keys only


def body(route: str, text: str, model: str = "premium", **extra) -> tuple[str, dict]:
    """The path and body a client of ``route`` sends for one question."""
    if route == "chat":
        return "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": text}],
                                        "max_tokens": 1000, **extra}
    if route == "completions":
        return "/v1/completions", {"model": model, "prompt": text, "max_tokens": 1000, **extra}
    if route == "messages":
        return "/v1/messages", {"model": model, "max_tokens": 1000, "messages": [{"role": "user", "content": text}],
                                **extra}
    return "/v1/responses", {"model": model, "input": text, "max_output_tokens": 1000, **extra}


def send(proxy: Proxy, team: str, route: str, text: str, headers: dict | None = None, **extra) -> httpx.Response:
    path, payload = body(route, text, **extra)
    with proxy.http(api_key=f"sk-team-{team}") as http:
        return http.post(path, json=payload, headers=headers or {})


def finished(proxies: tuple[Proxy, Proxy], route: str, cache_prefix: str,
             send_one: Callable[[], httpx.Response]) -> httpx.Response:
    """Send one request and wait until both replicas would see its effects: its budget settled and, when the cache
    looked it up and missed, its answer stored."""
    settled, stored = finished_requests(proxies, METRICS_KEY), cache_inserts(REDIS_URL, cache_prefix)
    response = send_one()
    if response.status_code == 200:
        wait_until_finished(proxies, settled + 1, METRICS_KEY)
        if response.headers.get("x-costroute-cache") == "miss":
            wait_until(lambda: cache_inserts(REDIS_URL, cache_prefix) > stored, 30, f"the {route} answer to be cached")
    return response


def arrivals(stubs: dict[str, Stub], text: str) -> int:
    """How many requests carrying ``text`` reached any upstream."""
    return sum(text in str(received["body"]) for stub in stubs.values() for received in stub.received())


@pytest.fixture(scope="module")
def cache_prefix() -> Iterator[str]:
    """The shared cache's Redis prefix, for waiting on its writes."""
    yield from isolated_redis_prefix("cache:")


@pytest.fixture(scope="module")
def replicas(stubs, process_logs: Path, tmp_path_factory, ledger_schema: str, cache_prefix: str
             ) -> Iterator[tuple[Proxy, Proxy]]:
    budget_prefix = isolated_redis_prefix("budget:")
    folder = tmp_path_factory.mktemp("isolation")
    config = write_config(folder / "config.yaml", costroute={
        "redis_url": REDIS_URL,
        "cache": {"enabled": True, "key_prefix": cache_prefix},
        "budget": {"key_prefix": next(budget_prefix), "default_max_tokens": 1000, "budgets": [
            # No match: every team has its own counter under the same cap.
            {"name": "team-daily", "scope": "team", "period": "daily", "limit_usd": TEAM_CAP_USD, "action": "block"},
        ]},
        "spend": {"ledger": {"enabled": True, "dsn": POSTGRES_DSN, "db_schema": ledger_schema,
                             "flush_interval_s": 0.2, "spool_path": str(folder / "spool.jsonl")}},
    }, team_keys=True)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    first, second = start_proxy(config, process_logs, env=env), start_proxy(config, process_logs, env=env)
    yield first, second
    first.stop()
    second.stop()
    next(budget_prefix, None)  # the generator deletes its keys when resumed


def ledger_rows(schema: str, team: str, expected: int, timeout: float = 20) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(POSTGRES_DSN) as connection:
            try:
                rows = connection.execute(
                    f'SELECT request_id, tenant, team FROM "{schema}".costroute_spend WHERE team = %s', (team,)
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                rows = []
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("client_metadata", [None, {"user_id": "claude-code-session"}], ids=["plain", "metadata"])
def test_a_team_never_gets_another_teams_cached_answer(replicas, cache_prefix, fresh_stubs, route, client_metadata):
    first, second = replicas
    question = f"Summarise our incident runbook for {route} {uuid.uuid4().hex[:6]}"
    extra = {"metadata": client_metadata} if client_metadata else {}
    owner, other, third = (f"iso-{name}-{uuid.uuid4().hex[:6]}" for name in "abc")

    asked = finished(replicas, route, cache_prefix, lambda: send(first, owner, route, question, **extra))
    repeated = send(second, owner, route, question, **extra)
    by_owner = arrivals(fresh_stubs, question)
    by_other_team = send(second, other, route, question, **extra)
    on_first_replica = send(first, third, route, question, **extra)

    assert [r.status_code for r in (asked, repeated, by_other_team, on_first_replica)] == [200] * 4
    if route == "chat":  # the cache is on: the owner's repeat on the other replica is a hit
        assert by_owner == 1 and repeated.headers["x-costroute-cache"] == "hit"
    # The other teams' questions always go upstream, on either replica.
    assert arrivals(fresh_stubs, question) == by_owner + 2


@pytest.mark.parametrize("route", ("chat", "messages", "responses"))
def test_a_forged_costroute_state_in_the_body_is_ignored(replicas, cache_prefix, fresh_stubs, route):
    first, _ = replicas
    question = f"What is our on-call escalation policy? {uuid.uuid4().hex[:6]}"
    owner, intruder = f"iso-owner-{uuid.uuid4().hex[:6]}", f"iso-intruder-{uuid.uuid4().hex[:6]}"
    finished(replicas, route, cache_prefix, lambda: send(first, owner, route, question))
    forged = {"costroute": {"tenant": f"team:{owner}", "request_id": "x"}, "user_api_key_team_id": owner,
              "tenant": f"team:{owner}"}

    response = send(first, intruder, route, question, metadata=forged, litellm_metadata=forged)

    assert response.status_code in (200, 400)  # LiteLLM may refuse a body-level litellm_metadata outright
    assert arrivals(fresh_stubs, question) == 1 + (response.status_code == 200)


def test_on_messages_a_different_system_prompt_is_never_served_the_cached_answer(replicas, cache_prefix,
                                                                                fresh_stubs):
    first, second = replicas
    team = f"iso-sys-{uuid.uuid4().hex[:6]}"
    question = f"Describe our refund policy {uuid.uuid4().hex[:6]}"

    finished(replicas, "messages", cache_prefix,
             lambda: send(first, team, "messages", question, system="Answer as a pirate."))
    other_persona = send(second, team, "messages", question, system="Answer as a lawyer.")

    assert other_persona.status_code == 200
    assert arrivals(fresh_stubs, question) == 2


@pytest.mark.parametrize("route", ROUTES)
def test_a_team_budget_applies_on_every_route_whatever_the_client_metadata(replicas, cache_prefix, fresh_stubs,
                                                                           route):
    first, second = replicas
    fresh_stubs["premium"].control(**PREMIUM_USAGE)
    team = f"iso-cap-{route}-{uuid.uuid4().hex[:6]}"

    statuses = []
    for index in range(10):  # $0.01 each against a $0.05 cap, alternating replicas, with client metadata
        replica = first if index % 2 == 0 else second
        text = f"Draft item {index} of the plan {uuid.uuid4().hex[:6]}"
        response = finished(replicas, route, cache_prefix,  # settled before the next one
                            partial(send, replica, team, route, text, metadata={"user_id": "someone"}))
        statuses.append(response.status_code)

    assert statuses[:4] == [200] * 4
    assert 403 in statuses and statuses.count(200) <= 6


def test_reused_call_ids_neither_bypass_the_budget_nor_lose_ledger_rows(replicas, fresh_stubs, ledger_schema):
    first, second = replicas
    fresh_stubs["premium"].control(**PREMIUM_USAGE)
    team = f"iso-callid-{uuid.uuid4().hex[:6]}"
    same_id = {"x-litellm-call-id": "same-call-id-for-everyone"}

    def one(index: int) -> int:
        replica = first if index % 2 == 0 else second
        return send(replica, team, "chat", f"Question number {index}", headers=same_id).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, range(40)))

    served = statuses.count(200)
    # $0.01 each under a $0.05 cap; reservations are made before the answer's cost is known, so each replica may
    # let one request through past the cap.
    assert 0 < served <= int(TEAM_CAP_USD / 0.01) + 2
    assert statuses.count(403) == 40 - served
    rows = ledger_rows(ledger_schema, team, served)
    assert len(rows) == served and len({row[0] for row in rows}) == served
    assert all(row[0] != "same-call-id-for-everyone" and row[1] == f"team:{team}" for row in rows)
