"""A tenant suddenly spending far above its usual rate raises one event, optionally POSTed to a webhook."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from costroute_plugins.spend import AnomalyConfig, AnomalyDetector, post_event

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def hours_of_normal_spend(detector: AnomalyDetector, tenant: str, hours: int, usd_per_hour: float) -> None:
    for hour in range(hours):
        assert detector.observe(tenant, usd_per_hour, START + timedelta(hours=hour, minutes=30)) is None


def test_a_runaway_tenant_raises_one_event_per_bucket():
    detector = AnomalyDetector(AnomalyConfig(multiple=5, min_spend_usd=1))
    hours_of_normal_spend(detector, "team:acme", 6, 2.0)
    now = START + timedelta(hours=6, minutes=5)

    assert detector.observe("team:acme", 9.0, now) is None  # 4.5x the median: still normal
    event = detector.observe("team:acme", 2.0, now)  # 11 USD this hour: 5.5x

    assert event is not None and event.tenant == "team:acme"
    assert (event.bucket_spend_usd, event.trailing_median_usd) == (11.0, 2.0)
    assert "5.5x its trailing median of $2.00" in event.message
    assert detector.observe("team:acme", 50.0, now) is None  # already reported for this hour
    assert detector.observe("team:acme", 50.0, now + timedelta(hours=1)) is not None  # a new hour, still high


def test_new_tenants_and_small_amounts_do_not_alert():
    detector = AnomalyDetector(AnomalyConfig(multiple=3, min_spend_usd=5, min_history=3))
    assert detector.observe("team:new", 100.0, START) is None  # no history yet
    hours_of_normal_spend(detector, "team:quiet", 4, 0.01)
    assert detector.observe("team:quiet", 1.0, START + timedelta(hours=4)) is None  # 100x, but under $5


def test_a_quiet_spell_counts_as_zero_spend():
    detector = AnomalyDetector(AnomalyConfig(multiple=3, min_spend_usd=1, trailing_buckets=4))
    hours_of_normal_spend(detector, "team:acme", 4, 10.0)
    event = detector.observe("team:acme", 2.0, START + timedelta(days=2))  # idle for two days, then $2
    assert event is not None and event.trailing_median_usd == 0.0


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []  # shared: the server makes a handler per request

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_the_webhook_receives_the_event_as_json():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.handle_request, daemon=True).start()
    detector = AnomalyDetector(AnomalyConfig(multiple=2, min_spend_usd=1))
    hours_of_normal_spend(detector, "team:acme", 3, 1.0)
    event = detector.observe("team:acme", 10.0, START + timedelta(hours=3))

    assert await post_event(f"http://127.0.0.1:{server.server_port}/hook", event, timeout_s=5)
    server.server_close()
    (body,) = _Receiver.received
    assert body["type"] == "costroute.spend_anomaly" and body["tenant"] == "team:acme"
    assert body["bucket_spend_usd"] == 10.0


@pytest.mark.parametrize("url, logged", [
    ("http://127.0.0.1:1/hook", "spend anomaly webhook http://127.0.0.1:1/... failed: ConnectError"),
    # Slack-style webhooks carry their token in the path; httpx's own errors quote the whole URL.
    ("http://127.0.0.1:1/services/T000/B000/s3cr3tT0ken?x=1", "http://127.0.0.1:1/..."),
], ids=["plain", "secret-in-path"])
async def test_a_failing_webhook_is_logged_not_raised_and_its_secret_never_reaches_the_log(caplog, url, logged):
    detector = AnomalyDetector(AnomalyConfig(multiple=2, min_spend_usd=1))
    hours_of_normal_spend(detector, "t", 3, 1.0)
    event = detector.observe("t", 10.0, START + timedelta(hours=3))
    with caplog.at_level(logging.WARNING, logger="costroute"):
        assert await post_event(url, event, timeout_s=1) is False
    assert logged in caplog.text and "s3cr3tT0ken" not in caplog.text
