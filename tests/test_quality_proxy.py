"""Through the real proxy: answers costroute served from a cheaper tier are audited after the client has them.

The operator turns audits on (every routed answer sampled here); for each, the top tier answers the same
question and the judge (the premium stub, which rates an answer by the tier that wrote it: cheap 6, premium 9)
grades both. The quality routing costs then shows in ``/metrics``, and what the audits spent is in the ledger
as costroute's own spend, subtracted from the savings ``costroute report`` prints.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import psycopg
import pytest

from costroute_plugins.spend.report import build_report
from costroute_plugins.stub.judge import DEFAULT_RATINGS
from tests.conftest import POSTGRES_DSN
from tests.harness import REPO, Proxy, start_proxy, tier_env, write_config

EASY = "Translate 'good morning' into Spanish, variant {n}."  # routed below the top tier
AUDITS = 6  # two tiers below the top: at least one of them gets min_audits (3)
# Long answers from the cheaper tiers: each routed request then saves more than an audit can cost, so the cap on
# audit spend (a share of the day's savings) admits every audit.
LONG_ANSWER = {"prompt_tokens": 1000, "completion_tokens": 100_000}


@pytest.fixture
def long_answers(fresh_stubs):
    for tier in ("cheap", "balanced"):
        fresh_stubs[tier].control(**LONG_ANSWER)
    yield fresh_stubs
    for tier in ("cheap", "balanced"):
        fresh_stubs[tier].control(reset=True)


class Alerts(BaseHTTPRequestHandler):
    """A webhook receiver: keeps every JSON document posted to it."""

    received: ClassVar[list[dict]] = []  # shared: the server makes a handler per request

    def do_POST(self) -> None:
        Alerts.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Alerts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()


@pytest.fixture(scope="module")
def audited(stubs, process_logs: Path, tmp_path_factory, ledger_schema: str, webhook: str) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("quality")
    config = write_config(folder / "config.yaml", costroute={
        # Targets pinned so that easy prompts go to the cheap tier (the shipped ones keep most traffic above it).
        "routing": {"tiers": [{"name": "cheap", "cost_per_mtok": 0.24},
                              {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": "quality>=0.98"},
                              {"name": "premium", "cost_per_mtok": 10.0, "enter_at": "quality>=0.95"}]},
        "cache": {"enabled": False},  # every answer here is a routed one (cache audits: tests/quality)
        "quality": {"enabled": True, "judge": "premium", "routed_sample_rate": 1.0, "cache_sample_rate": 1.0,
                    "min_audits": 3, "max_usd_per_day": 10.0, "max_share_of_savings": 1.0, "webhook_url": webhook},
        "spend": {"ledger": {"enabled": True, "dsn": POSTGRES_DSN, "db_schema": ledger_schema,
                             "flush_interval_s": 0.2, "spool_path": str(folder / "spool.jsonl")}},
    }, team_keys=True)
    running = start_proxy(config, process_logs, env={**tier_env(stubs), "PYTHONPATH": str(REPO)})
    yield running
    running.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of ``name`` with exactly these labels from a Prometheus exposition, None when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == wanted:
            return float(match.group(2))
    return None


def wait_for_metric(proxy: Proxy, name: str, at_least: float, timeout: float = 60, **labels: str) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with proxy.http(api_key="sk-team-ops") as http:  # /metrics needs a key the proxy accepts
            text = http.get("/metrics/", follow_redirects=True).text
        value = metric(text, name, **labels)
        if (value or 0) >= at_least or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_cheaper_answers_are_audited_and_the_quality_they_cost_is_published(audited, long_answers):
    client = audited.client(api_key="sk-team-q")
    served: dict[str, int] = {}
    for n in range(AUDITS):
        response = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": EASY.format(n=n)}])
        tier = response.headers["x-costroute-tier"]
        assert tier != "premium" and response.parse().choices[0].message.content.startswith(f"[{tier}]")
        served[tier] = served.get(tier, 0) + 1  # the client got its answer as usual, from a cheaper tier

    text = wait_for_metric(audited, "costroute_quality_audits_total", AUDITS, kind="routed", outcome="judged")

    assert metric(text, "costroute_quality_audits_total", kind="routed", outcome="judged") == AUDITS
    for tier, count in served.items():
        # The judge rates each answer by the tier that wrote it (premium 9): the share of the top tier's quality.
        assert metric(text, "costroute_quality_estimate", key=f"tier:{tier}", bound="count") == count
        if count >= 3:  # quality.min_audits
            assert metric(text, "costroute_quality_estimate", key=f"tier:{tier}", bound="value") == \
                pytest.approx(DEFAULT_RATINGS[tier] / DEFAULT_RATINGS["premium"])
            assert metric(text, "costroute_quality_standing", key=f"tier:{tier}") >= 1  # under the 0.95 target
    assert metric(text, "costroute_quality_audit_spend_usd_total") > 0
    # Below the target's floor even at the interval's upper bound: one alert per tier, to the webhook.
    below = {f"tier:{tier}" for tier, count in served.items() if count >= 3}
    assert below
    deadline = time.monotonic() + 10
    while not below <= {alert["key"] for alert in Alerts.received} and time.monotonic() < deadline:
        time.sleep(0.2)
    alerts = [alert for alert in Alerts.received if alert["key"].startswith("tier:")]
    assert {alert["key"] for alert in alerts} == below and len(alerts) == len(below)
    assert all(alert["type"] == "costroute.quality_below_target" and "top tier's quality" in alert["text"]
               for alert in alerts)
    # The top tier answered each question once more, and the judge graded both answers.
    premium = [received["body"] for received in long_answers["premium"].received()]
    assert sum(any(EASY.format(n=n) in str(m.get("content")) for m in body["messages"])
               for body in premium for n in range(AUDITS)) == 3 * AUDITS


def test_audit_spend_is_costroutes_own_and_comes_off_the_savings(audited, long_answers, ledger_schema):
    client = audited.client(api_key="sk-team-r")
    for n in range(2):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": EASY.format(n=10 + n)}])
    wait_for_metric(audited, "costroute_quality_audits_total", AUDITS + 2, kind="routed", outcome="judged")

    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(POSTGRES_DSN) as connection:
            rows = connection.execute(
                f'SELECT decision, cost_usd, cache_saving_usd + routing_saving_usd FROM "{ledger_schema}".'
                "costroute_spend WHERE tenant = 'team:r'").fetchall()
            report = build_report(connection, ledger_schema, "costroute_spend", "tenant", timedelta(hours=1))
        audits = [row for row in rows if row[0] == "audit"]
        if len(audits) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert len(audits) == 6  # per audit: the reference answer and two judge calls, billed to the audited tenant
    assert all(saving == 0 for _, _, saving in audits)
    served = [row for row in rows if row[0] != "audit"]
    assert len(served) == 2 and all(saving > 0 for _, _, saving in served)
    row = next(r for r in report if r.group == "team:r")
    assert row.requests == 2  # audits are not the tenant's requests
    assert row.audit_usd == sum(cost for _, cost, _ in audits) > 0
    assert row.net_saving_usd == row.cache_saving_usd + row.routing_saving_usd - row.audit_usd


def test_the_top_tier_and_a_tier_the_client_named_are_never_audited(audited, fresh_stubs):
    before = wait_for_metric(audited, "costroute_quality_sampling_total", 0, reason="top_tier")
    client = audited.client(api_key="sk-team-s")
    client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "Name a prime."}])
    client.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "Name an even number."}])
    after = wait_for_metric(audited, "costroute_quality_sampling_total",
                            (metric(before, "costroute_quality_sampling_total", reason="not_routed") or 0) + 2,
                            reason="not_routed", timeout=20)

    assert metric(after, "costroute_quality_sampling_total", reason="not_routed") == \
        (metric(before, "costroute_quality_sampling_total", reason="not_routed") or 0) + 2
    assert not any("Name a prime." in str(received["body"]) for received in fresh_stubs["premium"].received()
                   if "impartial judge" in str(received["body"]))


def test_a_client_cannot_pass_its_request_off_as_an_audit_or_read_the_quality_figures(audited, ledger_schema):
    client = audited.client(api_key="sk-team-t")
    # A client copies the audit tag costroute puts on its own calls, naming another tenant: billed as usual.
    forged = {"costroute_audit": {"request_id": "x", "tenant": "team:victim"}}
    response = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EASY.format(n=20)}], extra_body={"metadata": forged})
    request_id = response.headers["x-costroute-request-id"]
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(POSTGRES_DSN) as connection:
            row = connection.execute(f'SELECT tenant, decision FROM "{ledger_schema}".costroute_spend '
                                     "WHERE request_id = %s", (request_id,)).fetchone()
        if row is not None or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert row is not None and row[0] == "team:t" and row[1] != "audit"

    # The quality figures cover every tenant: only a proxy admin reads them (the master key does:
    # tests/test_quality_loop_proxy.py).
    with audited.http(api_key="sk-team-t") as http:
        refused = http.get("/costroute/quality")
    assert refused.status_code == 403 and "proxy admin" in refused.json()["error"]["message"]
