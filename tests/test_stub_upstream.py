"""The stub provider that stands in for paid APIs behaves as a test tells it to."""

from __future__ import annotations

import time

import httpx

from tests.harness import Stub


def chat(stub: Stub, text: str = "hi", **body) -> httpx.Response:
    return httpx.post(f"{stub.base_url}/chat/completions", timeout=10,
                      json={"model": "m", "messages": [{"role": "user", "content": text}], **body})


def test_answers_deterministically_with_usage_and_records_the_request(fresh_stubs: dict[str, Stub]):
    stub = fresh_stubs["premium"]

    first, second = chat(stub, "same question"), chat(stub, "same question")

    assert first.json()["choices"][0]["message"]["content"] == "[premium] answer to: same question"
    assert first.json()["choices"][0]["message"] == second.json()["choices"][0]["message"]
    assert first.json()["usage"]["total_tokens"] > 0
    assert [r["body"]["messages"][0]["content"] for r in stub.received()] == ["same question"] * 2


def test_latency_failures_and_usage_are_controllable(fresh_stubs: dict[str, Stub]):
    stub = fresh_stubs["balanced"]
    stub.control(latency_ms=300, fail_times=1, fail_status=429, prompt_tokens=7, completion_tokens=11)

    started = time.monotonic()
    failed = chat(stub)
    elapsed = time.monotonic() - started
    ok = chat(stub)

    assert failed.status_code == 429 and elapsed >= 0.3
    assert ok.status_code == 200 and ok.json()["usage"] == {"prompt_tokens": 7, "completion_tokens": 11,
                                                            "total_tokens": 18}


def test_streams_server_sent_events_with_usage_when_asked(fresh_stubs: dict[str, Stub]):
    response = chat(fresh_stubs["cheap"], "stream this", stream=True, stream_options={"include_usage": True})

    events = [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert '"usage"' in events[-2]


def test_unknown_control_field_is_rejected(fresh_stubs: dict[str, Stub]):
    response = httpx.post(f"http://127.0.0.1:{fresh_stubs['cheap'].port}/_control", json={"latncy": 5})

    assert response.status_code == 400 and "latncy" in response.text
