"""Two proxy replicas on Redis Sentinel (``redis_url: redis+sentinel://...``) keep serving while the Redis master
crashes mid-run and the Sentinel promotes its replica: no request fails, every answered request has its ledger
row in PostgreSQL, and the budget's block cap, reached after the failover, is overshot by one request at most
(the counters carried over to the new master; spend counted locally during the failover was added back).

The Sentinel set is this module's own (``tests/support/redis_topologies.py``): a master, one replica and one
Sentinel that declares the master down after 1 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from openai import APIStatusError

from tests.conftest import POSTGRES_DSN
from tests.harness import REPO, Proxy, start_proxy, tier_env, wait_until, write_config
from tests.support.redis_topologies import SentinelSet, redis_server_missing
from tests.waits import metric_sum, scrape

CAP = 0.40  # about 50 answers at $0.008 each
TEAM = "failover"


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory) -> Iterator[SentinelSet]:
    missing = redis_server_missing()
    if missing:
        pytest.skip(missing)
    started = SentinelSet(tmp_path_factory.mktemp("sentinel")).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def replicas(stubs, process_logs: Path, tmp_path_factory, sentinel: SentinelSet,
             ledger_schema: str) -> Iterator[tuple[Proxy, Proxy]]:
    folder = tmp_path_factory.mktemp("failover")
    config = write_config(folder / "config.yaml", costroute={
        "redis_url": sentinel.url,
        "cache": {"enabled": False},  # every answer is paid for: the sum of their costs is the spend
        "budget": {"budgets": [{"name": "failover-block", "scope": "team", "match": TEAM, "period": "daily",
                                "limit_usd": CAP, "action": "block"}]},
        "spend": {"ledger": {"enabled": True, "dsn": POSTGRES_DSN, "db_schema": ledger_schema,
                             "flush_interval_s": 0.2, "spool_path": str(folder / "spool.jsonl")}},
    }, team_keys=True)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    first = start_proxy(config, process_logs, env=env, timeout=300)
    second = start_proxy(config, process_logs, env=env, timeout=300)
    yield first, second
    first.stop()
    second.stop()


@dataclass
class Run:
    """What the clients saw: each answer's request id and cost, and every refusal or failure's status."""

    answered: dict[str, float] = field(default_factory=dict)
    refused: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def drive(self, proxy: Proxy, name: str, limit: int = 150) -> None:
        """One client asking ``proxy`` one question after another until the budget blocks it."""
        client = proxy.client(api_key=f"sk-team-{TEAM}")
        for number in range(limit):
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="premium", max_tokens=1000,
                    messages=[{"role": "user", "content": f"{name} request {number}: plan the quarter"}])
            except APIStatusError as refused:
                with self.lock:
                    self.refused.append(refused.status_code)
                return
            with self.lock:
                self.answered[raw.headers["x-costroute-request-id"]] = float(raw.headers["x-litellm-response-cost"])


def ledger_ids(schema: str) -> dict[str, float]:
    with psycopg.connect(POSTGRES_DSN) as connection:
        rows = connection.execute(f'SELECT request_id, cost_usd FROM "{schema}".costroute_spend WHERE team = %s',
                                  (TEAM,)).fetchall()
    return {request_id: float(cost) for request_id, cost in rows}


def test_a_master_crash_mid_run_loses_no_ledger_row_and_the_block_cap_holds_on_the_new_master(
    replicas, sentinel: SentinelSet, fresh_stubs, ledger_schema: str
):
    # Each answer costs about $0.008; half a second upstream keeps the failover window to a few answers per client.
    fresh_stubs["premium"].control(completion_tokens=1000, latency_ms=500)
    run = Run()
    clients = [threading.Thread(target=run.drive, args=(proxy, f"replica-{index}"))
               for index, proxy in enumerate(replicas)]
    for client in clients:
        client.start()

    wait_until(lambda: len(run.answered) >= 10, 120, "a fifth of the cap to be spent")
    crashed = sentinel.crash_master()
    crashed_at = time.monotonic()
    sentinel.wait_for_failover(away_from=crashed)
    failover_s = time.monotonic() - crashed_at
    for client in clients:
        client.join(timeout=300)
    wait_until(lambda: len(ledger_ids(ledger_schema)) >= len(run.answered), 60, "every answer's ledger row")
    ledger = ledger_ids(ledger_schema)
    degraded = sum(metric_sum(scrape(proxy, "sk-team-metrics"), "costroute_plugin_degraded_total")
                   for proxy in replicas)
    print(f"failover {failover_s:.1f} s, {len(run.answered)} answered, ${sum(run.answered.values()):.4f} spent, "
          f"{degraded:g} degraded plugin operations")

    assert not any(client.is_alive() for client in clients)
    assert run.refused == [403, 403]  # each client ran until the cap blocked it, and nothing failed on the way
    assert ledger.keys() == run.answered.keys()  # one row per answer, none lost, none twice
    assert sum(ledger.values()) == pytest.approx(sum(run.answered.values()))
    assert sum(run.answered.values()) <= CAP + max(run.answered.values())
    assert sum(run.answered.values()) >= CAP - 3 * max(run.answered.values())  # the counters were not lost
