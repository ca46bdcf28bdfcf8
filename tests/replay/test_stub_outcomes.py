"""The stub in outcomes mode answers a known prompt as the tier's recorded outcome, with its length and latency."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from costroute_plugins.stub import StubBehaviour, StubUpstream
from costroute_plugins.stub.outcomes import OutcomeBook, OutcomesFileError, parse_marker, qid_tag

ANSWERS = {
    "schema_version": 1,
    "tiers": {"cheap": {"ttft_ms": 50, "ms_per_token": 1.0}, "premium": {"ttft_ms": 0, "ms_per_token": 0}},
    "prompts": {"What is 2+2?": {"qid": "math/1", "scores": {"cheap": 0.0, "premium": 1.0},
                                 "answer_tokens": {"cheap": 100, "premium": 40}}},
}


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(ANSWERS))
    return path


def client_for(answers: Path, tier: str) -> TestClient:
    return TestClient(StubUpstream(StubBehaviour(name=tier), OutcomeBook.load(answers, tier)).app)


def ask(client: TestClient, text: str, **body):
    return client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": text}],
                                                     **body})


def test_a_known_prompt_gets_the_tiers_recorded_answer_usage_and_latency(answers: Path):
    started = time.monotonic()
    response = ask(client_for(answers, "cheap"), "What is 2+2?").json()
    elapsed = time.monotonic() - started

    assert parse_marker(response["choices"][0]["message"]["content"]) == (qid_tag("math/1"), "cheap", 0.0)
    assert response["usage"]["completion_tokens"] == 100
    assert response["usage"]["prompt_tokens"] == len("What is 2+2?") // 4
    assert elapsed >= 0.15  # 50 ms to the first token + 100 tokens at 1 ms


def test_each_tier_answers_with_its_own_outcome_also_when_streamed(answers: Path):
    response = ask(client_for(answers, "premium"), "What is 2+2?", stream=True,
                   stream_options={"include_usage": True})

    events = [json.loads(line.removeprefix("data: ")) for line in response.text.splitlines()
              if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert parse_marker(text) == (qid_tag("math/1"), "premium", 1.0)
    assert events[-1]["usage"]["completion_tokens"] == 40


def test_an_unknown_prompt_gets_the_default_answer(answers: Path):
    response = ask(client_for(answers, "cheap"), "Something else").json()

    assert response["choices"][0]["message"]["content"] == "[cheap] answer to: Something else"
    assert parse_marker(response["choices"][0]["message"]["content"]) is None


def test_an_answers_file_without_the_tier_is_refused_with_the_fix(answers: Path):
    with pytest.raises(OutcomesFileError, match="no tier 'balanced'.*--tier"):
        OutcomeBook.load(answers, "balanced")
