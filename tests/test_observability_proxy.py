"""Through the real proxy: after a few questions, ``/metrics`` shows how long costroute spent in each stage of
them (``costroute_stage_seconds``) and which path each decision took (``costroute_decision_path_total``), the same
figures the Grafana dashboard charts and a benchmark reads (``stages.stage_times``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from costroute_plugins.harness import config_edits as edits
from costroute_plugins.stages import STAGES, stage_times
from tests.harness import PROXY_CONFIG, REPO, Proxy, start_proxy, tier_env, wait_until
from tests.waits import metric_sum, scrape, wait_until_finished

KEY = "sk-team-observed"  # the proxy's custom auth takes team keys, on /metrics too
QUESTION = "What is the capital of France?"
PARAPHRASES = ("How do I reverse a list in Python?", "how can I reverse a list in python")


@pytest.fixture(scope="module")
def observed_proxy(stubs, process_logs: Path, tmp_path_factory) -> Iterator[Proxy]:
    """The shipped config (router, budgets) with its cache in process and a spend ledger file, so every stage
    runs; the router is given time enough that a busy test machine never makes LiteLLM serve its fallback tier."""
    folder = tmp_path_factory.mktemp("observed")
    document = edits.with_costroute(edits.read_config(PROXY_CONFIG), {
        "cache": {"enabled": True}, "spend": {"ledger": {"enabled": True, "file": str(folder / "spend.jsonl")}}})
    config = edits.write_config(folder / "config.yaml",
                                edits.with_team_keys(edits.with_classifier_timeout_at_least(document, 10_000)))
    proxy = start_proxy(config, process_logs, env={**tier_env(stubs), "PYTHONPATH": str(REPO)})
    yield proxy
    proxy.stop()


def stored_answers(proxy: Proxy) -> float:
    return stage_times(scrape(proxy, KEY))["cache_store"].count


def ask(proxy: Proxy, text: str, model: str = "auto") -> str:
    """Ask, wait until the answer is stored in the cache (so a repeat can hit it); the x-costroute-cache header."""
    before = stored_answers(proxy)
    answer = proxy.client(api_key=KEY).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}])
    if answer.headers["x-costroute-cache"] == "miss":
        wait_until(lambda: stored_answers(proxy) > before, 30, "the answer stored in the cache")
    return answer.headers["x-costroute-cache"]


def test_metrics_show_each_stage_a_request_went_through_and_the_paths_taken(observed_proxy: Proxy, fresh_stubs):
    asked = [ask(observed_proxy, QUESTION), ask(observed_proxy, QUESTION)]
    asked += [ask(observed_proxy, text, model="cheap") for text in PARAPHRASES]
    wait_until_finished([observed_proxy], 4, KEY)  # the ledger rows are written when the answers are logged

    text = scrape(observed_proxy, KEY)
    times = stage_times(text)

    def path(name: str) -> float:
        return metric_sum(text, "costroute_decision_path_total", path=name)

    assert asked == ["miss", "hit", "miss", "hit"]
    assert {stage for stage in STAGES if times[stage].count >= 1} == set(STAGES)
    assert all(f'costroute_stage_seconds_bucket{{le="+Inf",stage="{stage}"}}' in text for stage in STAGES)
    assert times["cache_lookup"].count == 4 and times["budget_reservation"].count == 4
    assert times["classification"].count == 2  # the two auto requests; the others named their tier
    assert (path("cache_miss"), path("cache_exact_hit"), path("cache_semantic_hit")) == (2, 1, 1)
    assert (path("budget_under"), path("route_explicit")) == (4, 2)
    assert (path("route_router"), path("route_fallback_timeout")) == (2, 0)
