"""Production faults under load: two proxy replicas with every plugin on, 24 concurrent users, and one thing
breaking at a time — Redis killed and restarted, PostgreSQL stopped and restarted, a tier answering 500s and
timing out, a replica killed.

After each: no user saw an error costroute caused (budget refusals of the capped tenant are answers, not
errors), the capped tenant spent at most its cap plus one request, every answered request is exactly one
ledger row, and the cache serves hits again. Redis and PostgreSQL are private to this module (the shared ones
on 6379 / 5432 keep serving the other tests); the replicas are shared by the module's tests, each test using
tenants of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml

from costroute_plugins.harness.load import Answer, Load, mixed_traffic, with_capped_tenant
from tests.harness import REPO, Proxy, Stub, start_proxy, start_stub, tier_env, write_config
from tests.support.private_services import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.slow

CAP_USD = 0.05  # per capped tenant and day; one capped request costs ~$0.008 (1000 completion tokens of gpt-4.1)
LEDGER_SCHEMA = "faults"
CLIENTS = 24
CAPPED_TEAMS = ("redis-cap", "pg-cap", "tier-cap", "kill-cap")


@dataclass
class Fleet:
    replicas: list[Proxy]
    stubs: dict[str, Stub]
    redis: PrivateRedis
    postgres: PrivatePostgres

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]


def fleet_config(path: Path, redis_url: str, dsn: str, spool: Path) -> Path:
    write_config(path, costroute={
        "redis_url": redis_url,
        # Rules-only verifier: these tests are about faults, not about the learned artifact of the day.
        "cache": {"enabled": True, "key_prefix": "faults:cache:", "learned_verifier": False},
        "budget": {"key_prefix": "faults:budget:", "budgets": [
            {"name": f"{team}-daily", "scope": "team", "match": team, "period": "daily", "limit_usd": CAP_USD,
             "action": "throttle", "retry_after_s": 60} for team in CAPPED_TEAMS]},
        "spend": {"ledger": {"enabled": True, "dsn": dsn, "db_schema": LEDGER_SCHEMA, "flush_interval_s": 0.2,
                             "retry_interval_s": 0.5, "connect_timeout_s": 1, "spool_path": str(spool)}},
    }, team_keys=True)
    document = yaml.safe_load(path.read_text())
    document["router_settings"]["timeout"] = 3  # a tier that hangs is given up on and falls back
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def fleet(process_logs: Path, tmp_path_factory) -> Iterator[Fleet]:
    folder = tmp_path_factory.mktemp("faults")
    redis = PrivateRedis(folder / "redis")
    redis.start()
    postgres = PrivatePostgres()
    postgres.start()
    stubs = {tier: start_stub(f"{tier}", folder, latency_ms=50) for tier in ("cheap", "balanced", "premium")}
    stubs["premium"].control(completion_tokens=1000)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    configs = [fleet_config(folder / f"replica-{n}.yaml", redis.url, postgres.dsn, folder / f"spool-{n}.jsonl")
               for n in range(2)]
    replicas: list[Proxy] = []
    try:
        replicas = [start_proxy(config, process_logs, env=env) for config in configs]
        for replica in replicas:  # the first requests of a fresh proxy are slow: keep them out of the tests
            for text in ("warm up", "warm up"):
                replica.client(api_key="sk-team-warmup").chat.completions.create(
                    model="auto", messages=[{"role": "user", "content": text}])
        yield Fleet(replicas, stubs, redis, postgres)
    finally:
        for replica in replicas:
            replica.stop()
        for stub in stubs.values():
            stub.managed.stop()
        redis.stop()
        postgres.remove()


def run(fleet: Fleet, prefix: str, breaking, duration_s: float = 18.0) -> list[Answer]:
    """The traffic mix of four tenants plus a capped one; once the capped tenant is at its cap (its first 429),
    ``breaking()`` runs in this thread while the traffic goes on."""
    teams = [f"{prefix}-t{n}" for n in range(4)]
    traffic = with_capped_tenant(mixed_traffic(teams, unique_prefix=prefix), f"{prefix}-cap")
    load = Load(fleet.urls, traffic, clients=CLIENTS, duration_s=duration_s, max_requests=2000).start()
    deadline = time.monotonic() + duration_s / 2
    while time.monotonic() < deadline and not any(a.ask.kind == "capped" and a.status == 429 for a in load.answers):
        time.sleep(0.1)
    breaking()
    return load.join()


def ledger(fleet: Fleet, prefix: str, expected: set[str], timeout: float = 40) -> dict[str, tuple]:
    """Ledger rows of the test's tenants, once every expected id is in (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(fleet.postgres.dsn) as connection:
            rows = connection.execute(
                f"SELECT request_id, cost_usd, tier, cache_hit FROM {LEDGER_SCHEMA}.costroute_spend "
                "WHERE team LIKE %s", (prefix + "-%",)).fetchall()
        found = {row[0]: row for row in rows}
        assert len(found) == len(rows), "a request id appears twice in the ledger"
        if expected <= set(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def user_errors(answers: list[Answer]) -> list[Answer]:
    """Answers a user would call errors: anything but a complete 200, except the capped tenant's 429s."""
    return [a for a in answers if not a.ok and not (a.ask.kind == "capped" and a.status == 429)]


def assert_served_through(answers: list[Answer], fleet: Fleet, prefix: str, recovered_at: float,
                          answered_ids: set[str] | None = None) -> None:
    errors = user_errors(answers)
    assert not errors, f"{len(errors)} of {len(answers)} users saw errors: " + "; ".join(
        f"{a.status} {a.error}" for a in errors[:5])

    # The stub answers "[tier] answer to: <prompt>": an answer for another prompt is a mix-up or a wrong hit.
    foreign = [(a.ask.text, a.cache, a.content) for a in answers if a.ok and not a.content.endswith(a.ask.text[:200])
               and a.cache != "hit"]
    assert not foreign, f"answers to another prompt: {foreign[:3]}"
    wrong_hits = [(a.ask.text, a.content) for a in answers
                  if a.cache == "hit" and a.ask.kind in ("capped", "new", "hard")
                  and not a.content.endswith(a.ask.text[:200])]
    assert not wrong_hits, f"a prompt with its own number was served another's answer: {wrong_hits[:3]}"

    capped = [a for a in answers if a.ask.kind == "capped"]
    spent = [0.0 if a.cache == "hit" else a.cost for a in capped if a.status == 200]  # a hit costs nothing
    assert any(a.status == 429 for a in capped), "the capped tenant reached its cap"
    timeline = [(round(a.started - answers[0].started, 2), round(a.finished - answers[0].started, 2), a.replica,
                 a.status) for a in capped]
    assert sum(spent) <= CAP_USD + max(spent), f"capped tenant (start, end, replica, status): {timeline}"

    answered = {a.request_id for a in answers if a.status == 200} if answered_ids is None else answered_ids
    assert None not in answered
    rows = ledger(fleet, prefix, answered)
    missing = answered - set(rows)
    assert not missing, f"{len(missing)} answered requests have no ledger row"
    priced = [a for a in answers if a.request_id in rows and a.cache != "hit"]
    assert abs(sum(float(rows[a.request_id][1]) for a in priced) - sum(a.cost for a in priced)) < 1e-6

    later = [a for a in answers if a.started > recovered_at + 3.0]
    assert any(a.cache == "hit" for a in later), "the cache serves hits again after the fault"


def test_redis_killed_and_restarted_under_load(fleet: Fleet):
    moments: dict[str, float] = {}

    def breaking() -> None:
        time.sleep(1)
        fleet.redis.kill()
        moments["killed"] = time.monotonic()
        time.sleep(3)
        fleet.redis.start()
        moments["back"] = time.monotonic()

    answers = run(fleet, "redis", breaking)

    during = [a for a in answers if moments["killed"] + 0.5 < a.started < moments["back"]]
    assert during and {a.cache for a in during if a.ask.kind != "capped"} >= {"bypass"}
    assert_served_through(answers, fleet, "redis", moments["back"])
    with fleet.replicas[0].http(api_key="sk-team-redis-t0") as http:
        metrics = http.get("/metrics/", follow_redirects=True).text
    assert 'costroute_plugin_degraded_total{plugin="cache"' in metrics
    assert 'costroute_plugin_degraded_total{plugin="budget"' in metrics
    assert "caching resumed" in fleet.replicas[0].log() + fleet.replicas[1].log()


def test_postgres_stopped_and_restarted_under_load(fleet: Fleet):
    moments: dict[str, float] = {}

    def breaking() -> None:
        time.sleep(1)
        fleet.postgres.stop("immediate")
        time.sleep(3)
        fleet.postgres.start()
        moments["back"] = time.monotonic()

    answers = run(fleet, "pg", breaking)

    assert_served_through(answers, fleet, "pg", moments["back"])
    logs = fleet.replicas[0].log() + fleet.replicas[1].log()
    assert "spooling to" in logs and "spooled rows replayed" in logs


def test_a_tier_answering_500s_and_timing_out_falls_back_under_load(fleet: Fleet):
    cheap = fleet.stubs["cheap"]
    moments: dict[str, float] = {}

    def breaking() -> None:
        time.sleep(2)
        moments["failing"] = time.monotonic()
        cheap.control(fail_rate=0.5, fail_status=500)
        time.sleep(4)
        cheap.control(fail_rate=0.0, latency_ms=5000)  # past the router's 3 s timeout
        time.sleep(4)
        cheap.control(latency_ms=50)
        moments["back"] = time.monotonic()

    try:
        answers = run(fleet, "tier", breaking, duration_s=20.0)
    finally:
        cheap.control(fail_rate=0.0, latency_ms=50)

    assert_served_through(answers, fleet, "tier", moments["back"])
    rescued = [a for a in answers if moments["failing"] < a.started < moments["back"] - 1 and a.tier == "balanced"]
    assert rescued, "requests for the failing cheap tier were answered by the next tier up"
    rows = ledger(fleet, "tier", {a.request_id for a in rescued})
    assert {rows[a.request_id][2] for a in rescued if a.cache != "hit"} == {"balanced"}


def test_one_replica_killed_mid_load_clients_retry_on_the_other(fleet: Fleet):
    victim = fleet.replicas[1]
    moments: dict[str, float] = {}

    def breaking() -> None:
        time.sleep(1)
        victim.managed.process.kill()  # SIGKILL: a crash, no graceful shutdown
        moments["killed"] = time.monotonic()

    answers = run(fleet, "kill", breaking, duration_s=14.0)

    retried = [a for a in answers if a.attempts > 1]
    assert retried and all(a.replica == 0 for a in retried)
    # Rows of the killed replica still in its memory (the last flush interval, ~0.2 s) die with it: every
    # answer it gave up to a second before the kill, and every answer of the survivor, is in the ledger.
    kept = {a.request_id for a in answers if a.status == 200 and (a.replica == 0 or a.finished < moments["killed"] - 1)}
    assert_served_through(answers, fleet, "kill", moments["killed"], answered_ids=kept)
    assert victim.managed.process.poll() is not None
