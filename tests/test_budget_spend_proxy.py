"""Through the real proxy: budgets change what a tenant gets as its spend grows (and its owner hears when it
crosses the soft limit and the cap), and every request's cost lands in the PostgreSQL ledger, self-hosted tiers
priced by their GPU cost rather than $0."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from openai import APIStatusError

from tests.conftest import POSTGRES_DSN, REDIS_URL, isolated_redis_prefix
from tests.harness import REPO, Proxy, start_proxy, tier_env, wait_until, write_config
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.waits import finished_requests, wait_until_finished

# Each premium request below costs 1000 x $2/M + 1000 x $8/M = $0.01 (gpt-4.1 list prices).
PREMIUM_USAGE = {"prompt_tokens": 1000, "completion_tokens": 1000}
CHEAP_RATES = {"input_usd_per_token": 1e-7, "output_usd_per_token": 4e-7}


@pytest.fixture(scope="module")
def budget_redis_prefix() -> Iterator[str]:
    yield from isolated_redis_prefix("budget:")


@pytest.fixture(scope="module")
def budget_webhook() -> Iterator[WebhookReceiver]:
    """Where the budget proxy posts its budget alerts."""
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def budget_proxy(stubs, process_logs: Path, tmp_path_factory, ledger_schema: str, budget_redis_prefix: str,
                 budget_webhook: WebhookReceiver) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("budget")
    # Budget counters in the real Redis, as every replica of a deployment would share them.
    config = write_config(folder / "config.yaml", costroute={
        "redis_url": REDIS_URL,
        "cache": {"enabled": False},  # the same prompt is asked again and again: every one must cost
        "budget": {"key_prefix": budget_redis_prefix, "webhook_url": budget_webhook.url, "budgets": [
            {"name": "throttled-daily", "scope": "team", "match": "thr", "period": "daily", "limit_usd": 0.03,
             "action": "throttle", "retry_after_s": 120},
            {"name": "downgraded-daily", "scope": "team", "match": "dg", "period": "daily", "limit_usd": 0.03,
             "action": "downgrade"},
            {"name": "blocked-daily", "scope": "team", "match": "blk", "period": "daily", "limit_usd": 0.015,
             "action": "block"},
            {"name": "pressured-daily", "scope": "team", "match": "soft", "period": "daily", "limit_usd": 0.1,
             "soft_limit": 0.7, "action": "downgrade"},
            {"name": "alerted-daily", "scope": "team", "match": "alert", "period": "daily", "limit_usd": 0.03,
             "soft_limit": 0.5, "action": "throttle", "retry_after_s": 120},
        ], "default_max_tokens": 1000},
        "spend": {"self_hosted_prices": {"cheap": CHEAP_RATES}, "ledger": {
            "enabled": True, "dsn": POSTGRES_DSN, "db_schema": ledger_schema, "flush_interval_s": 0.2,
            "spool_path": str(folder / "spool.jsonl")}},
    }, team_keys=True)
    proxy = start_proxy(config, process_logs, env={**tier_env(stubs), "PYTHONPATH": str(REPO)})
    yield proxy
    proxy.stop()


METRICS_KEY = "sk-team-metrics"  # the budget proxy's custom auth accepts team keys only


def ask(proxy: Proxy, team: str, model: str = "premium", text: str = "Plan the quarter"):
    client = proxy.client(api_key=f"sk-team-{team}")
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], max_tokens=1000
    )


def ledger_rows(schema: str, team: str) -> list[tuple]:
    with psycopg.connect(POSTGRES_DSN) as connection:
        return connection.execute(
            f'SELECT request_id, cost_usd, tier FROM "{schema}".costroute_spend WHERE team = %s', (team,)
        ).fetchall()


def wait_for_rows(schema: str, team: str, count: int, timeout: float = 20) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = ledger_rows(schema, team)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


HARD = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why "
        "this remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture.")


def test_past_the_soft_limit_traffic_shifts_to_cheaper_tiers_then_the_cap_downgrades(budget_proxy, fresh_stubs):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)

    def settled(**request):  # asks, then waits for the reservation to settle in the request's success event
        before = finished_requests([budget_proxy], METRICS_KEY)
        response = ask(budget_proxy, "soft", **request)
        wait_until_finished([budget_proxy], before + 1, METRICS_KEY)
        return response

    fresh = settled(model="auto", text=HARD).headers["x-costroute-tier"]
    for _ in range(8):  # explicit premium requests push the tenant to 90% of its $0.10
        settled()
    under_pressure = settled(model="auto", text=HARD).headers["x-costroute-tier"]
    settled()  # crosses the cap
    capped_auto = ask(budget_proxy, "soft", model="auto", text=HARD).headers["x-costroute-tier"]
    capped_premium = ask(budget_proxy, "soft").headers["x-costroute-tier"]

    assert fresh == "premium"
    assert under_pressure in ("cheap", "balanced")
    assert (capped_auto, capped_premium) == ("cheap", "cheap")


def test_at_the_cap_a_throttled_tenant_gets_429_with_retry_after(budget_proxy, fresh_stubs):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)

    answered = [ask(budget_proxy, "thr") for _ in range(3)]
    with pytest.raises(APIStatusError) as refused:
        ask(budget_proxy, "thr")

    assert all(r.http_response.status_code == 200 for r in answered)
    assert refused.value.status_code == 429
    assert refused.value.response.headers["retry-after"] == "120"
    assert "throttled-daily" in refused.value.message
    assert len(fresh_stubs["premium"].received()) == 3
    assert ask(budget_proxy, "other-team").http_response.status_code == 200  # other tenants are unaffected


def test_at_the_cap_a_downgraded_tenant_is_served_by_the_cheapest_tier(budget_proxy, fresh_stubs):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)

    before = [ask(budget_proxy, "dg").headers["x-costroute-tier"] for _ in range(3)]
    after = ask(budget_proxy, "dg")

    assert before == ["premium"] * 3
    assert after.headers["x-costroute-tier"] == "cheap"
    assert after.parse().choices[0].message.content.startswith("[cheap]")


def test_at_the_cap_a_blocked_tenant_gets_a_clear_error(budget_proxy, fresh_stubs):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)

    # The request that crosses the cap is still answered: a cap is overshot by at most one request.
    ask(budget_proxy, "blk")
    ask(budget_proxy, "blk")
    with pytest.raises(APIStatusError) as refused:
        ask(budget_proxy, "blk")

    assert refused.value.status_code == 403
    assert "blocked-daily" in refused.value.message


def test_crossing_the_soft_limit_then_the_cap_posts_one_alert_each(budget_proxy, budget_webhook, fresh_stubs):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)

    for _ in range(3):  # $0.01 each: the third request's check sees $0.02 settled, past the 50% soft limit
        before = finished_requests([budget_proxy], METRICS_KEY)
        ask(budget_proxy, "alert")
        wait_until_finished([budget_proxy], before + 1, METRICS_KEY)  # the reservation settles in the success event
    for _ in range(3):  # at the $0.03 cap: refused, announced once
        with pytest.raises(APIStatusError) as refused:
            ask(budget_proxy, "alert")
        assert refused.value.status_code == 429

    budget_webhook.wait_for(2, lambda alert: alert["budget"] == "alerted-daily")
    time.sleep(1)  # a duplicate would have arrived by now
    ours = [alert for alert in budget_webhook.received if alert["budget"] == "alerted-daily"]

    assert [alert["level"] for alert in ours] == ["soft_limit", "cap"]
    soft, cap = ours
    assert soft["text"].startswith("costroute: budget 'alerted-daily' (team alert) has spent $0.02 (67%)")
    assert cap["text"].startswith("costroute: budget 'alerted-daily' (team alert) reached its daily cap of $0.03")
    assert all(alert["type"] == "costroute.budget_alert" and alert["scope"] == "team" and alert["match"] == "alert"
               and alert["subject"] == "alert" and alert["period"] == "daily" and alert["limit_usd"] == 0.03
               and alert["action"] == "throttle" for alert in ours)
    assert (soft["spent_usd"], cap["spent_usd"]) == (pytest.approx(0.02), pytest.approx(0.03))


def test_every_answered_request_is_one_ledger_row_at_its_cost(budget_proxy, fresh_stubs, ledger_schema):
    fresh_stubs["premium"].control(**PREMIUM_USAGE)
    fresh_stubs["cheap"].control(prompt_tokens=500, completion_tokens=200)

    costs = [float(ask(budget_proxy, "ledger").headers["x-litellm-response-cost"]) for _ in range(2)]
    cheap = ask(budget_proxy, "ledger", model="cheap", text="A quick one")

    rows = wait_for_rows(ledger_schema, "ledger", 3)
    assert len(rows) == 3 and len({row[0] for row in rows}) == 3
    premium_total = sum(row[1] for row in rows if row[2] == "premium")
    assert premium_total == Decimal(str(round(sum(costs), 10))).quantize(Decimal("1e-10"))
    cheap_cost = next(row[1] for row in rows if row[2] == "cheap")
    # The self-hosted tier is priced by its TCO rates: 500 x 1e-7 + 200 x 4e-7, never $0.
    assert cheap_cost == Decimal("0.0001300000")
    assert cheap.http_response.status_code == 200


def test_budget_and_spend_series_are_in_prometheus(budget_proxy, fresh_stubs):
    ask(budget_proxy, "metrics")

    with budget_proxy.http(api_key="sk-team-metrics") as http:
        metrics = http.get("/metrics/", follow_redirects=True).text

    assert "costroute_budget_decisions_total" in metrics
    assert 'costroute_budget_remaining_usd{budget="throttled-daily/thr"' in metrics
    assert 'costroute_spend_usd_total{tenant="team:metrics",tier="premium"}' in metrics
    assert 'costroute_requests_total{decision="requested",tier="premium"}' in metrics
    assert 'costroute_savings_usd_total{kind="cache"}' in metrics
    assert 'costroute_savings_usd_total{kind="routing"}' in metrics
    assert "costroute_budget_projected_usd{" in metrics
    assert "costroute_ledger_up 1.0" in metrics and 'costroute_ledger_rows_total{outcome="written"}' in metrics


def test_two_replicas_under_50_concurrent_requests_stop_within_one_request_of_the_cap(
    stubs, fresh_stubs, process_logs: Path, tmp_path: Path, redis_prefix: str
):
    from concurrent.futures import ThreadPoolExecutor

    cap = 0.05
    config = write_config(tmp_path / "shared.yaml", costroute={
        "redis_url": REDIS_URL,
        "cache": {"enabled": False},  # every answer is paid for: the sum of their costs is the spend
        "budget": {"key_prefix": redis_prefix, "budgets": [
            {"name": "shared-daily", "scope": "team", "match": "conc", "period": "daily", "limit_usd": cap,
             "action": "throttle"}]},
    }, team_keys=True)
    # Usage as the stub reports it: the real prompt's size, and exactly max_tokens of completion.
    fresh_stubs["premium"].control(completion_tokens=1000)
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    replicas = [start_proxy(config, process_logs, env=env), start_proxy(config, process_logs, env=env)]

    def one(index: int) -> float:
        try:
            raw = ask(replicas[index % 2], "conc", text=f"Request {index}: plan the quarter")
        except APIStatusError as refused:
            assert refused.status_code == 429
            return 0.0
        return float(raw.headers["x-litellm-response-cost"])

    try:
        with ThreadPoolExecutor(max_workers=50) as pool:
            costs = list(pool.map(one, range(50)))
    finally:
        for replica in replicas:
            replica.stop()

    one_request_max = max(costs)
    answered = [cost for cost in costs if cost > 0]
    assert 0 < len(answered) < 50
    assert sum(answered) <= cap + one_request_max


def test_ledger_report_and_spend_logs_agree_after_a_postgres_outage_and_a_restart(
    stubs, fresh_stubs, process_logs: Path, tmp_path: Path, pg_schema: str
):
    import json
    import subprocess
    import sys

    from tests.support.pg_outage import ThreadedOutage

    outage = ThreadedOutage()
    dsn = outage.start()
    capture = tmp_path / "spend-log.jsonl"
    # Batches of 5 rows; a partial batch waits in memory (up to 60 s) and is what a SIGTERM finds unsent.
    config = write_config(tmp_path / "ledger.yaml", costroute={
        "redis_url": None,
        "cache": {"enabled": False},  # every request is one paid upstream call and one row
        "spend": {"ledger": {"enabled": True, "dsn": dsn, "db_schema": pg_schema, "flush_interval_s": 60,
                             "batch_size": 5, "retry_interval_s": 0.5, "connect_timeout_s": 1,
                             "spool_path": str(tmp_path / "spool.jsonl")}},
    })
    document = yaml.safe_load(config.read_text())
    document["litellm_settings"]["callbacks"].append("tests.support.spend_log_capture.capture")
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {**tier_env(stubs), "PYTHONPATH": str(REPO), "SPEND_LOG_CAPTURE": str(capture)}
    fresh_stubs["premium"].control(prompt_tokens=1234, completion_tokens=567)
    proxy = start_proxy(config, process_logs, env=env)
    costs: list[float] = []

    def burst(count: int) -> None:
        for index in range(count):
            raw = proxy.client().chat.completions.with_raw_response.create(
                model="premium", messages=[{"role": "user", "content": f"ledger {len(costs)} {index}"}])
            costs.append(float(raw.headers["x-litellm-response-cost"]))

    def ledger_up() -> str:
        with proxy.http() as http:
            text = http.get("/metrics/", follow_redirects=True).text
        return next(line for line in text.splitlines() if line.startswith("costroute_ledger_up"))

    def held_in_memory(expected: int) -> float:
        # A request's ledger row is submitted by its success callback, which LiteLLM runs after the response:
        # wait until the proxy says it holds them, rather than for a time.
        deadline = time.monotonic() + 30
        while True:
            with proxy.http() as http:
                text = http.get("/metrics/", follow_redirects=True).text
            queued = float(next(line for line in text.splitlines()
                                if line.startswith("costroute_ledger_queued_rows")).split()[-1])
            if queued >= expected or time.monotonic() > deadline:
                return queued
            time.sleep(0.1)

    def ledger_totals(expected: int) -> tuple:
        deadline = time.monotonic() + 30
        while True:
            with psycopg.connect(POSTGRES_DSN) as connection:
                totals = connection.execute(
                    f'SELECT count(*), count(DISTINCT request_id), coalesce(sum(cost_usd), 0) '
                    f'FROM "{pg_schema}".costroute_spend').fetchone()
            if totals[0] >= expected or time.monotonic() > deadline:
                return totals
            time.sleep(0.3)

    try:
        burst(5)
        outage.cut()  # PostgreSQL unreachable while requests keep coming
        burst(5)
        wait_until(lambda: ledger_up() == "costroute_ledger_up 0.0", 30, "the ledger to report PostgreSQL down")
        down = ledger_up()
        outage.restore()
        burst(5)
        assert ledger_totals(15)[0] == 15
        up = ledger_up()
        burst(3)  # a partial batch, still in memory when the proxy is stopped
        assert held_in_memory(3) == 3
        proxy.stop()
        first_log = proxy.log()
        proxy = start_proxy(config, process_logs, env=env)  # the next start replays what was spooled at exit
        rows, distinct, total = ledger_totals(18)
    finally:
        proxy.stop()
        outage.stop()

    payload_costs = [json.loads(line)["response_cost"] for line in capture.read_text().splitlines()]
    report = subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "report", "--since", "1d", "--by", "tenant",
         "--format", "json", "--dsn", POSTGRES_DSN, "--schema", pg_schema],
        capture_output=True, text=True, timeout=60, check=True)
    (reported,) = json.loads(report.stdout)

    assert (rows, distinct) == (18, 18)
    assert len(payload_costs) == 18
    assert abs(total - Decimal(str(sum(payload_costs)))) < Decimal("1e-9")  # the ledger equals the spend logs
    assert abs(total - Decimal(str(sum(costs)))) < Decimal("1e-9")
    assert reported["requests"] == 18 and Decimal(reported["cost_usd"]) == total  # the report equals the ledger
    assert down == "costroute_ledger_up 0.0" and up == "costroute_ledger_up 1.0"
    assert "spooling to" in first_log and "stopping with 3 rows not yet written; spooled" in first_log

