"""An application using the OpenAI client talks to the proxy started from the repo's proxy_config.yaml."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import Proxy, Stub


def ask(proxy: Proxy, model: str, text: str = "What is the capital of France?", **kwargs):
    return proxy.client().chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kwargs
    )


def test_auto_request_is_answered_by_a_tier_and_costroute_says_which(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    raw = ask(proxy, "auto")

    tier = raw.headers["x-costroute-tier"]
    assert tier in ("cheap", "balanced", "premium")
    assert raw.parse().choices[0].message.content == f"[{tier}] answer to: What is the capital of France?"
    assert 0.0 <= float(raw.headers["x-costroute-router-score"]) <= 1.0
    assert raw.headers["x-costroute-version"]
    assert raw.headers["x-costroute-cache"] == "bypass"
    # LiteLLM itself recorded the decision our classifier made.
    assert raw.headers["x-litellm-complexity-router-cause"] == "classifier_plugin"
    assert [len(fresh_stubs[name].received()) for name in ("cheap", "balanced", "premium")].count(1) == 1


def test_explicitly_requested_tier_is_served_as_asked(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    raw = ask(proxy, "premium")

    assert raw.parse().choices[0].message.content.startswith("[premium]")
    assert raw.headers["x-costroute-tier"] == "premium"


def test_streaming_request_streams_through_the_plugins(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    stream = proxy.client().chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "stream me a short answer"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    assert text.endswith("] answer to: stream me a short answer")


def test_failing_cheap_tier_falls_back_to_the_next_tier_up(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    fresh_stubs["cheap"].control(fail_rate=1.0, fail_status=503)

    raw = ask(proxy, "cheap", "anyone there?")

    assert raw.parse().choices[0].message.content == "[balanced] answer to: anyone there?"
    assert raw.headers["x-litellm-attempted-fallbacks"] == "1"
    assert raw.headers["x-costroute-tier"] == "balanced"


def test_upstream_token_usage_and_cost_reach_the_client(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    fresh_stubs["premium"].control(prompt_tokens=1000, completion_tokens=500)

    raw = ask(proxy, "premium", "price me")

    usage = raw.parse().usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (1000, 500)
    # gpt-4.1 list price: $2 / 1M input tokens, $8 / 1M output tokens.
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(1000 * 2e-6 + 500 * 8e-6)


def test_prometheus_exposes_costroute_series(proxy: Proxy, fresh_stubs: dict[str, Stub]):
    ask(proxy, "auto", "count me")

    with proxy.http() as http:
        metrics = http.get("/metrics/", follow_redirects=True).text

    assert 'costroute_requests_total{decision="classifier_plugin",tier=' in metrics
    assert "costroute_spend_usd_total" in metrics


def test_a_request_without_a_key_is_refused_not_crashed(proxy: Proxy):
    response = httpx.post(
        f"{proxy.url}/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "x"}]}
    )

    assert response.status_code == 401
