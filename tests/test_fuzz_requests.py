"""Bad and hostile input through the real proxy with every plugin on (semantic cache, budgets, router ``auto``, spend):
generated chat requests — content lists with images and tool calls, None content, empty message lists,
200k-character prompts, lone surrogates, unknown parameters — never get a 5xx that costroute caused.

Who caused an error is decided by sending the same request to the same LiteLLM proxy WITHOUT our plugins
(``auto`` there is a plain alias of the cheap tier): where that vanilla proxy answers, ours answers too; where it
refuses the request with a 4xx, ours refuses it with a 4xx and a readable message. Our plugins log no traceback.

Hostile: a caller who writes another team into its request metadata gets neither that team's cache entries nor
its budget: the tenant comes from the authenticated key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from costroute_plugins.harness import config_edits as edits
from tests.conftest import REDIS_URL, isolated_redis_prefix
from tests.harness import PROXY_CONFIG, REPO, Proxy, start_proxy, tier_env

pytestmark = pytest.mark.slow

LONG = "Summarise this. " + "lorem ipsum dolor sit amet " * 7_500  # ~200k characters
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


@pytest.fixture(scope="module")
def proxies(stubs, process_logs: Path, tmp_path_factory) -> Iterator[tuple[Proxy, Proxy]]:
    """(costroute, vanilla): the repo's config with every plugin on, and the same tiers with no plugin."""
    folder = tmp_path_factory.mktemp("fuzz")
    prefix_holder = isolated_redis_prefix("fuzz:")
    prefix = next(prefix_holder)
    base = edits.read_config(PROXY_CONFIG)
    ours = edits.write_config(folder / "costroute.yaml", edits.with_team_keys(edits.with_costroute(base, {
        "redis_url": REDIS_URL,
        "cache": {"enabled": True, "key_prefix": prefix + "cache:", "learned_verifier": False},
        "budget": {"key_prefix": prefix + "budget:", "budgets": [
            {"name": "fuzz-daily", "scope": "team", "period": "daily", "limit_usd": 1000, "action": "throttle"},
            {"name": "victim-daily", "scope": "team", "match": "victim", "period": "daily", "limit_usd": 0.00005,
             "action": "throttle"}]},
    })))
    vanilla = edits.write_config(folder / "vanilla.yaml", edits.with_team_keys(edits.with_callbacks(
        edits.without_costroute(base, auto_as="cheap"), [])))

    env = {**tier_env(stubs), "PYTHONPATH": str(REPO)}
    started = [start_proxy(ours, process_logs, env=env), start_proxy(vanilla, process_logs, env=env)]
    yield started[0], started[1]
    for proxy in started:
        proxy.stop()
    for _ in prefix_holder:  # deletes the prefix's keys
        pass


@dataclass
class Outcome:
    status: int
    text: str
    stream_error: bool

    @property
    def failed(self) -> bool:
        return self.status >= 500 or self.stream_error


def post(proxy: Proxy, team: str, body: dict) -> httpx.Response:
    return httpx.post(f"{proxy.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer sk-team-{team}"})


def send(proxy: Proxy, body: object) -> Outcome:
    """POST the body as a client library would (JSON; lone surrogates escaped as \\udXXX)."""
    payload = json.dumps(body)
    headers = {"Authorization": "Bearer sk-team-fuzz", "Content-Type": "application/json"}
    with (httpx.Client(timeout=60) as http,
          http.stream("POST", f"{proxy.url}/v1/chat/completions", content=payload, headers=headers) as answer):
        text = answer.read().decode(errors="replace")
    streamed = isinstance(body, dict) and body.get("stream") is True and answer.status_code == 200
    stream_error = streamed and ('"error"' in text or "[DONE]" not in text)
    return Outcome(answer.status_code, text, stream_error)


# -- generated requests ----------------------------------------------------------------------------------------------
texts = st.one_of(
    st.text(max_size=120),
    st.sampled_from(["", " ", "\ud800", "a\udfffb \ud83d", "What is the capital of France?", "😀" * 20]),
)
text_part = st.fixed_dictionaries({"type": st.just("text"), "text": texts})
image_part = st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries(
    {"url": st.sampled_from(["data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==", "https://example.com/cat.png", ""])})})
odd_part = st.one_of(st.none(), st.integers(), texts, st.dictionaries(st.text(max_size=6), texts, max_size=2))
contents = st.one_of(st.none(), texts, st.lists(st.one_of(text_part, image_part, odd_part), max_size=4))
messages = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "developer", "tool", "wizard"]),
                           "content": contents}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none(), "tool_calls": st.just([TOOL_CALL])}),
    st.fixed_dictionaries({"role": st.just("tool"), "tool_call_id": st.just("call_1"), "content": texts}),
    st.dictionaries(st.text(max_size=6), texts, max_size=2),  # not a message at all
)
extra_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.text(max_size=8),
                         st.floats(allow_nan=False, allow_infinity=False, width=32),
                         st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
extras = st.dictionaries(
    st.sampled_from(["frobnicate", "temperature", "max_tokens", "n", "user", "metadata", "tags", "cache",
                     "stream_options", "response_format", "tool_choice", "seed", "x_unknown"]),
    extra_values, max_size=3)
bodies = st.builds(
    lambda model, chat, stream, extra: {**extra, "model": model, "messages": chat, "stream": stream},
    st.sampled_from(["auto", "auto", "cheap", "premium"]),
    st.one_of(st.lists(messages, max_size=4), st.none(), texts),
    st.booleans(),
    extras,
)


def user(content) -> dict:
    return {"model": "auto", "messages": [{"role": "user", "content": content}]}


@settings(max_examples=45, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          database=None)
@given(body=bodies)
@example(body={"model": "auto", "messages": []})
@example(body=user(None))
@example(body=user(LONG))
@example(body={**user(LONG), "stream": True})
@example(body=user("lone \ud800 surrogate"))
@example(body=user([{"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]))
@example(body={"model": "auto", "messages": [
    {"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 12}'}, {"role": "user", "content": "And so?"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]})
@example(body={**user("Hello"), "frobnicate": True, "metadata": "not a mapping", "tags": "nope"})
@example(body={"model": "auto"})
def test_no_request_gets_a_5xx_that_costroute_caused(proxies, body):
    ours, vanilla = proxies

    got, reference = send(ours, body), send(vanilla, body)

    if got.failed:
        assert reference.failed, f"costroute failed where the vanilla proxy did not: {got.status} {got.text[:400]}"
    elif got.status >= 400:
        assert reference.status >= 400, f"costroute refused a request vanilla served: {got.status} {got.text[:400]}"
        assert json.loads(got.text)["error"]["message"], "a refusal says why"
    if 400 <= reference.status < 500:
        assert 400 <= got.status < 500, f"an invalid request gets a clear 4xx, not {got.status}: {got.text[:300]}"


IMPERSONATION = {"user_api_key_team_id": "owner", "user_api_key_hash": "0" * 64, "tenant": "team:owner",
                 "costroute": {"tenant": "team:owner", "forced_tier": "premium"}}


def test_a_caller_naming_another_team_in_its_metadata_never_gets_that_teams_cache_entry(proxies):
    ours, _ = proxies
    question = {"model": "auto", "messages": [{"role": "user", "content": "What is the Berlin office's Q3 target?"}]}

    stored, served = post(ours, "owner", question), post(ours, "owner", question)
    intruder = post(ours, "intruder", {**question, "metadata": IMPERSONATION})

    assert (stored.headers["x-costroute-cache"], served.headers["x-costroute-cache"]) == ("miss", "hit")
    assert intruder.status_code == 200 and intruder.headers["x-costroute-cache"] == "miss"


def test_a_caller_naming_another_team_in_its_metadata_spends_its_own_budget(proxies):
    import time

    ours, _ = proxies
    premium = {"model": "premium", "messages": [{"role": "user", "content": "Plan the quarter"}]}
    claimed = {**IMPERSONATION, "user_api_key_team_id": "victim", "tenant": "team:victim"}

    intruder = [post(ours, "intruder", {**premium, "metadata": claimed}) for _ in range(2)]
    time.sleep(1.5)  # reservations settle when each request's success event has run
    victim_first = post(ours, "victim", premium)
    time.sleep(1.5)
    victim_capped = post(ours, "victim", premium)

    assert [r.status_code for r in intruder] == [200, 200]
    assert victim_first.status_code == 200, "the intruder's spend was not billed to the victim"
    assert victim_capped.status_code == 429 and "victim-daily" in victim_capped.text


def test_the_plugins_logged_no_traceback_during_the_fuzz_run(proxies):
    log = proxies[0].log()
    costroute_errors = [line for line in log.splitlines() if " costroute ERROR " in line]
    assert not costroute_errors, costroute_errors[:5]
    assert 'File "' + str(REPO / "costroute_plugins") not in log
