"""Through the real proxy: an operator runs the semantic cache in shadow mode to measure it before switching it on.

Every request goes upstream and the client gets the fresh answer, as without the cache; what a live cache would
have served is counted (``costroute_cache_shadow_lookups_total``), per tenant as strictly as a live cache serves,
and with audits on, the judge grades each would-be semantic hit's cached answer against the fresh one the client
got, with no extra upstream call for the reference.

Routing sends every request to the cheap stub, which numbers its answers (``answer #3 to: ...``), so each answer
shows which upstream call it came from; the premium stub is the judge. The cheap tier's answers are long in
tokens, so routing saves enough today for the audit spend cap (a share of the day's savings) to admit audits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from costroute_plugins.harness import config_edits as edits
from costroute_plugins.stub.judge import JUDGE_OPENING
from tests.conftest import REDIS_URL, isolated_redis_prefix
from tests.harness import PROXY_CONFIG, REPO, Proxy, Stub, start_proxy, tier_env, wait_until
from tests.waits import cache_inserts, metric_sum, scrape

ADMIN_AUTH = "tests.support.admin_team_auth.user_api_key_auth"
SHADOW_LOOKUPS = "costroute_cache_shadow_lookups_total"
# Above any score: every `auto` request goes to the cheap tier, a routing saving against premium each time.
ALL_CHEAP = [{"name": "cheap", "cost_per_mtok": 0.24}, {"name": "balanced", "cost_per_mtok": 1.0, "enter_at": 2.0},
             {"name": "premium", "cost_per_mtok": 10.0, "enter_at": 2.0}]


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    yield from isolated_redis_prefix("cache-shadow:")


@pytest.fixture(scope="module")
def shadow_proxy(stubs, process_logs: Path, prefix: str, tmp_path_factory) -> Iterator[Proxy]:
    document = edits.with_costroute(edits.read_config(PROXY_CONFIG), {
        "redis_url": REDIS_URL, "routing": {"mode": "enforce", "tiers": ALL_CHEAP},
        "cache": {"mode": "shadow", "key_prefix": prefix + "cache:"},
        "quality": {"enabled": True, "judge": "premium", "routed_sample_rate": 0.0, "cache_sample_rate": 1.0,
                    "max_usd_per_day": 10.0, "max_share_of_savings": 1.0, "min_audits": 2,
                    "key_prefix": prefix + "quality:"}})
    document["general_settings"] = {**(document.get("general_settings") or {}), "custom_auth": ADMIN_AUTH}
    config = edits.write_config(tmp_path_factory.mktemp("cache-shadow") / "config.yaml", document)
    running = start_proxy(config, process_logs, env={**tier_env(stubs), "PYTHONPATH": str(REPO)})
    yield running
    running.stop()


@pytest.fixture
def numbered(fresh_stubs: dict[str, Stub]) -> dict[str, Stub]:
    fresh_stubs["cheap"].control(number_answers=True, completion_tokens=100_000)
    return fresh_stubs


def ask(proxy: Proxy, text: str, team: str = "a") -> tuple[str, str, str | None]:
    """(the answer, x-costroute-cache, x-costroute-cache-similarity) of one chat request of ``team``'s."""
    with proxy.http(api_key=f"sk-team-{team}") as http:
        response = http.post("/v1/chat/completions", json={
            "model": "auto", "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text
    return (response.json()["choices"][0]["message"]["content"], response.headers["x-costroute-cache"],
            response.headers.get("x-costroute-cache-similarity"))


def cached(proxy: Proxy, prefix: str, text: str, team: str = "a") -> str:
    """Ask once (a miss) and wait until the fresh answer is stored, as a live cache stores it; the answer."""
    before = cache_inserts(REDIS_URL, prefix + "cache:")
    answer, verdict, _ = ask(proxy, text, team)
    assert verdict == "miss"
    wait_until(lambda: cache_inserts(REDIS_URL, prefix + "cache:") > before, 30, f"{text!r} to be stored")
    return answer


def shadow_counts(proxy: Proxy) -> dict[str, float]:
    text = scrape(proxy)
    return {outcome: metric_sum(text, SHADOW_LOOKUPS, outcome=outcome)
            for outcome in ("exact_hit", "semantic_hit", "miss")}


def upstream_questions(stub: Stub) -> list[str]:
    """The last user message of every request the stub answered that was not a judge's grading prompt."""
    asked = [received["body"]["messages"][-1]["content"] for received in stub.received()]
    return [text for text in asked if JUDGE_OPENING not in text]


def test_a_repeated_prompt_gets_a_fresh_upstream_answer_each_time_and_counts_as_a_would_be_hit(
        shadow_proxy: Proxy, numbered, prefix: str):
    question = "What is the capital of France?"
    before = shadow_counts(shadow_proxy)
    saved_before = metric_sum(scrape(shadow_proxy), "costroute_savings_usd_total", kind="cache")
    first = cached(shadow_proxy, prefix, question)
    stored = cache_inserts(REDIS_URL, prefix + "cache:")

    second, third = ask(shadow_proxy, question), ask(shadow_proxy, question)

    assert first == f"[cheap] answer #1 to: {question}"
    assert second == (f"[cheap] answer #2 to: {question}", "shadow-hit", "1.0000")
    assert third == (f"[cheap] answer #3 to: {question}", "shadow-hit", "1.0000")
    assert upstream_questions(numbered["cheap"]) == [question] * 3  # upstream answered every one
    after = shadow_counts(shadow_proxy)
    assert after["exact_hit"] - before["exact_hit"] == 2 and after["miss"] - before["miss"] == 1
    # A live cache would have served the repeats, not stored them again: the shadow cache holds what it would.
    assert cache_inserts(REDIS_URL, prefix + "cache:") == stored
    # What the repeats cost is what a live cache would have saved: counted apart, never reported as a saving.
    wait_until(lambda: metric_sum(scrape(shadow_proxy), "costroute_cache_shadow_would_be_saving_usd_total") > 0, 30,
               "the would-be saving of the repeats")
    assert metric_sum(scrape(shadow_proxy), "costroute_savings_usd_total", kind="cache") == saved_before


def test_a_paraphrase_is_a_would_be_semantic_hit_answered_fresh(shadow_proxy: Proxy, numbered, prefix: str):
    cached(shadow_proxy, prefix, "How do I reverse a list in Python?")
    before = shadow_counts(shadow_proxy)

    answer, verdict, similarity = ask(shadow_proxy, "how can I reverse a list in python")

    assert answer == "[cheap] answer #2 to: how can I reverse a list in python"
    assert verdict == "shadow-hit" and 0.8 < float(similarity) < 1.0
    assert shadow_counts(shadow_proxy)["semantic_hit"] - before["semantic_hit"] == 1


def test_tenant_b_repeating_tenant_a_prompt_is_no_would_be_hit(shadow_proxy: Proxy, numbered, prefix: str):
    question = "Summarise our Q3 roadmap"
    cached(shadow_proxy, prefix, question, team="a")

    other_tenant = ask(shadow_proxy, question, team="b")
    same_tenant = ask(shadow_proxy, question, team="a")

    assert other_tenant[1] == "miss"
    assert same_tenant[1] == "shadow-hit"


def test_a_would_be_semantic_hit_is_audited_against_the_fresh_answer_without_another_upstream_call(
        shadow_proxy: Proxy, numbered, prefix: str):
    original, paraphrase = "How do I sort a list in Python?", "how can I sort a list in python"
    cached(shadow_proxy, prefix, original)  # a routed request: today's savings pay for the audit
    audited_before = metric_sum(scrape(shadow_proxy), "costroute_quality_audits_total", kind="cache",
                                outcome="judged")

    fresh, verdict, _ = ask(shadow_proxy, paraphrase)

    assert verdict == "shadow-hit"
    wait_until(lambda: metric_sum(scrape(shadow_proxy), "costroute_quality_audits_total", kind="cache",
                                  outcome="judged") > audited_before, 60, "the would-be hit's audit")
    grading = [received["body"]["messages"][-1]["content"] for received in numbered["premium"].received()]
    assert grading and all(JUDGE_OPENING in text for text in grading)  # the premium stub only judged
    graded = "\n".join(grading)
    assert f"[cheap] answer #1 to: {original}" in graded and fresh in graded  # cached vs what the client got
    assert upstream_questions(numbered["cheap"]) == [original, paraphrase]  # no reference call
    text = scrape(shadow_proxy)
    assert metric_sum(text, "costroute_quality_estimate", key="cache:semantic", bound="count") >= 1
    assert metric_sum(text, "costroute_quality_estimate", key="tenant:team:a", bound="count") == 0


def test_would_be_hits_on_a_wrong_cached_answer_show_in_the_wrong_hit_rate(shadow_proxy: Proxy, numbered,
                                                                          prefix: str):
    numbered["premium"].control(judge_ratings={"stale": 1.0, "cheap": 6.0})  # the judge fails the stale answers
    pairs = [("How do I reverse a string in Python?", "how can I reverse a string in python"),
             ("How do I copy a list in Python?", "how can I copy a list in python")]
    numbered["cheap"].control(answer="[stale] Use the deprecated API.")
    for original, _paraphrase in pairs:
        cached(shadow_proxy, prefix, original)
    numbered["cheap"].control(answer=None)

    answers = [ask(shadow_proxy, paraphrase) for _original, paraphrase in pairs]

    assert all(verdict == "shadow-hit" and answer.startswith("[cheap] answer #") for answer, verdict, _ in answers)
    wait_until(lambda: metric_sum(scrape(shadow_proxy), "costroute_quality_wrong_cache_hit_rate", bound="value") > 0,
               60, "the wrong-hit rate to show the stale would-be hits")


def test_the_operator_reads_would_be_hits_beside_the_served_ones(shadow_proxy: Proxy, numbered, prefix: str):
    question = "Which river flows through Vienna?"
    cached(shadow_proxy, prefix, question, team="stats")
    ask(shadow_proxy, question, team="stats")

    with shadow_proxy.http() as http:  # the master key: a proxy admin
        stats = http.get("/costroute/cache").json()

    assert stats["mode"] == "shadow"
    assert stats["tenants"]["team:stats"]["hits"] == 0  # nothing was served from the cache
    assert stats["tenants"]["team:stats"]["lookups"] == 2
    shadow = stats["shadow_this_replica"]
    assert shadow["exact_hits"] >= 1 and 0 < shadow["would_be_hit_rate"] <= 1
