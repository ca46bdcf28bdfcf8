"""Through the real proxy: what callers and operators can ask of `model: auto` beyond the classifier's choice.

An explicit tier is served as asked; a premium tenant always gets premium; request metadata hints raise or
move the tier; an A/B holdout is served premium with the would-be tier logged; a thumbs-down on an answer
sends a paraphrase of its prompt one tier up. Tenants are teams authenticated by the proxy
(``tests/support/tenant_auth.py``); feedback lives in the real Redis under a prefix unique to this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REDIS_URL, isolated_redis_prefix
from tests.harness import REPO, Proxy, start_proxy, tier_env, write_config

EASY = "Translate 'good morning' into Spanish."
PARAPHRASE = "How do you say 'good morning' in Spanish?"
HARD = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why "
        "this remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture.")
SALT = "test-holdout"
HOLDOUT = 0.2


_counter = iter(range(1, 10**9))


def ask(proxy: Proxy, text: str, team: str = "a", model: str = "auto", held_out: bool = False,
        metadata: dict | None = None, stream: bool = False):
    """A chat request as team ``team``, in the A/B holdout or out of it as asked. The holdout is drawn from the
    request id costroute generates (a client cannot pick its side), so a request that lands on the other side
    is asked again: each test knows its tier."""
    client = proxy.client(api_key=f"sk-team-{team}")
    for _ in range(60):
        response = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": text}], stream=stream,
            extra_headers={"x-litellm-call-id": f"test-call-{next(_counter)}"},
            extra_body={"metadata": metadata} if metadata else None)
        if model != "auto":
            return response
        if stream:
            assert "".join(chunk.choices[0].delta.content or "" for chunk in response.parse() if chunk.choices)
        logged = spend_log(Path(proxy.env["SPEND_LOG_CAPTURE"]), response.headers["x-litellm-call-id"])
        if bool(logged.get("costroute_route_holdout")) == held_out:
            return response
    raise AssertionError(f"no request landed {'in' if held_out else 'outside'} the holdout in 60 tries")


def spend_log(capture: Path, request_id: str) -> dict:
    """The spend-log payload LiteLLM produced for one request (written after the answer, so wait for it)."""
    for _ in range(300):  # written after the answer; slow on a loaded host
        for line in capture.read_text().splitlines() if capture.exists() else []:
            payload = json.loads(line)
            if payload.get("litellm_call_id") == request_id:
                return payload["metadata"]["spend_logs_metadata"]
        time.sleep(0.1)
    raise AssertionError(f"no spend log for {request_id}")


@pytest.fixture(scope="module")
def feedback_prefix() -> Iterator[str]:
    yield from isolated_redis_prefix("feedback:")


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("spend") / "spend-log.jsonl"


@pytest.fixture(scope="module")
def policy_proxy(stubs, process_logs: Path, feedback_prefix: str, capture: Path, tmp_path_factory) -> Iterator[Proxy]:
    config = write_config(tmp_path_factory.mktemp("policy") / "config.yaml", costroute={
        "redis_url": REDIS_URL,
        "cache": {"enabled": False},  # the same questions are asked again to watch routing, not the cache
        # Targets pinned here (not the shipped ones) so that the easy prompt's own tier is cheap: these tests
        # check what overrides do to a known decision, not how the shipped targets are tuned.
        "routing": {"tiers": [{"name": "cheap", "cost_per_mtok": 0.24},
                              {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": "quality>=0.98"},
                              {"name": "premium", "cost_per_mtok": 10.0, "enter_at": "quality>=0.95"}],
                    "premium_tenants": ["team:vip"], "task_min_tier": {"math": "premium"},
                    "tier_latency_ms": {"premium": 4000, "cheap": 200},
                    "holdout_fraction": HOLDOUT, "holdout_salt": SALT,
                    "feedback": {"key_prefix": feedback_prefix, "refresh_s": 0}},
    }, team_keys=True)
    document = yaml.safe_load(config.read_text())
    document["litellm_settings"]["callbacks"].append("tests.support.spend_log_capture.capture")
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    running = start_proxy(config, process_logs, timeout=300,  # a loaded CI host can take minutes to start it
                          env={**tier_env(stubs), "PYTHONPATH": str(REPO), "SPEND_LOG_CAPTURE": str(capture)})
    yield running
    running.stop()


def tier(response) -> str:
    return response.headers["x-costroute-tier"]


def answered_by(response) -> str:
    return response.parse().choices[0].message.content.split("]")[0].lstrip("[")


def test_an_explicitly_requested_tier_is_served_as_requested_and_recorded(policy_proxy, fresh_stubs, capture):
    response = ask(policy_proxy, HARD, model="cheap")

    assert tier(response) == "cheap" and answered_by(response) == "cheap"
    logged = spend_log(capture, response.headers["x-litellm-call-id"])
    assert logged["costroute_route_mode"] == "explicit" and logged["costroute_route_tier"] == "cheap"


def test_a_premium_tenant_always_gets_premium_for_auto(policy_proxy, fresh_stubs):
    vip, basic = ask(policy_proxy, EASY, team="vip"), ask(policy_proxy, EASY, team="basic")
    # A caller cannot claim to be the premium tenant through metadata: identity comes from the key.
    forged = ask(policy_proxy, EASY, team="basic", metadata={"user_api_key_team_id": "vip", "costroute": {
        "tenant": "team:vip", "forced_tier": "premium"}})

    assert (tier(vip), answered_by(vip)) == ("premium", "premium")
    assert tier(basic) == "cheap" and tier(forged) == "cheap"


def test_metadata_hints_raise_the_tier_for_quality_and_task(policy_proxy, fresh_stubs, capture):
    strict = ask(policy_proxy, EASY, metadata={"required_quality": 0.999})
    math = ask(policy_proxy, EASY, metadata={"task": "math"})
    chat = ask(policy_proxy, EASY, metadata={"task": "chat"})

    assert tier(strict) == "premium" and tier(math) == "premium" and tier(chat) == "cheap"
    logged = spend_log(capture, math.headers["x-litellm-call-id"])
    assert "raised to premium: task math" in logged["costroute_route_reason"]
    assert logged["costroute_route_hints"] == {"task": "math"}


def test_a_latency_hint_moves_a_request_off_a_tier_too_slow_for_it(policy_proxy, fresh_stubs):
    # Observed latency replaces the configured figure once a tier has answered a few times (earlier tests in
    # this module make premium answer quickly): premium is made slow here so that both say ~1.5 s or more.
    fresh_stubs["premium"].control(latency_ms=1500)
    try:
        for _ in range(5):
            ask(policy_proxy, HARD, model="premium")
        slow = ask(policy_proxy, HARD)
        quick = ask(policy_proxy, HARD, metadata={"max_latency_ms": 1000})
    finally:
        fresh_stubs["premium"].control(reset=True)

    assert tier(slow) == "premium"
    assert tier(quick) == "balanced"  # premium takes ~1.5 s; balanced answers fast (or has no figure yet)


def test_a_malformed_hint_is_a_clear_400(policy_proxy, fresh_stubs):
    from openai import BadRequestError

    with pytest.raises(BadRequestError, match="metadata.required_quality: 7 is outside"):
        ask(policy_proxy, EASY, metadata={"required_quality": 7})


def test_the_holdout_is_served_premium_with_the_would_be_tier_logged(policy_proxy, fresh_stubs, capture):
    held = ask(policy_proxy, EASY, held_out=True)

    assert (tier(held), answered_by(held)) == ("premium", "premium")
    logged = spend_log(capture, held.headers["x-litellm-call-id"])
    assert logged["costroute_route_mode"] == "holdout" and logged["costroute_route_holdout"] is True
    assert logged["costroute_route_tier"] == "cheap"  # what routing would have served


def test_a_thumbs_down_sends_a_paraphrase_one_tier_up(policy_proxy, fresh_stubs):
    first = ask(policy_proxy, EASY, team="a")
    assert tier(first) == "cheap" and tier(ask(policy_proxy, PARAPHRASE, team="a")) == "cheap"

    with policy_proxy.http(api_key="sk-team-a") as http:
        rated = http.post("/costroute/feedback", json={"response_id": first.parse().id, "rating": "down"})
    with policy_proxy.http(api_key="sk-team-b") as http:
        stranger = http.post("/costroute/feedback", json={"response_id": first.parse().id, "rating": "down"})
        malformed = http.post("/costroute/feedback", json={"response_id": first.parse().id, "rating": "meh"})
    with policy_proxy.http(api_key="not-a-key") as http:
        anonymous = http.post("/costroute/feedback", json={"response_id": first.parse().id, "rating": "down"})

    assert rated.status_code == 200, rated.text
    assert rated.json() == {"response_id": first.parse().id, "rating": "down", "served_tier": "cheap",
                            "escalated_to": "balanced"}
    assert (stranger.status_code, malformed.status_code, anonymous.status_code) == (404, 400, 401)
    again = ask(policy_proxy, PARAPHRASE, team="a")
    assert (tier(again), answered_by(again)) == ("balanced", "balanced")
    assert tier(ask(policy_proxy, PARAPHRASE, team="b")) == "cheap"  # another tenant's routing is untouched


def test_a_streamed_answer_is_rated_by_its_litellm_call_id(policy_proxy, fresh_stubs):
    streamed = ask(policy_proxy, EASY, team="c", stream=True)

    with policy_proxy.http(api_key="sk-team-c") as http:
        rated = http.post("/costroute/feedback", json={"response_id": streamed.headers["x-litellm-call-id"],
                                                      "rating": -1})

    assert rated.status_code == 200 and rated.json()["escalated_to"] == "balanced", rated.text
    assert tier(ask(policy_proxy, PARAPHRASE, team="c")) == "balanced"
