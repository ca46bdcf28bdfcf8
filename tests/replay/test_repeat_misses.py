"""An operator replays a workload and reads why the re-asked questions that the cache did not serve missed it.

The classification is checked first on recorded facts (what the client saw, when each request left and was
answered), then once end to end: one small replay through the real proxy with a time-sensitive question asked
twice, a question with a phone number asked twice, two identical requests sent together, and ordinary repeats.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.replay.cli_replay import _summary
from costroute_plugins.replay.client import ProxyReply
from costroute_plugins.replay.misses import Miss, ask_of, reasked
from costroute_plugins.replay.report import build_report, score_request, with_reask
from costroute_plugins.replay.workload import Request, approx_tokens, write_workload
from costroute_plugins.stub.outcomes import marker, qid_tag
from tests.harness import PROXY_CONFIG

POLICY = SemanticCacheConfig.parse({}).admission_policy()  # the proxy's defaults
SCORES = {"cheap": 0.5, "balanced": 0.7, "premium": 0.9}
CLOCK = "What time is it now?"
PHONE = "Call me on +1 415 555 0134 tomorrow: which phone plan suits a family of four?"
SKY = "Why is the sky blue?"


class Replay:
    """Requests as a replay records them: sent in order, each with what came back and when."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.served: list[ProxyReply] = []

    def ask(self, prompt: str, *, at: float, took: float = 0.5, tenant: str = "acme", tier: str = "cheap",
            cache: str = "miss", status: int = 200, reason: str | None = None, finish: str = "stop") -> int:
        n = len(self.requests)
        self.requests.append(Request(n=n, tenant=tenant, kind="fresh", stream=False, prompt=prompt, qid=f"q/{prompt}",
                                     scores=SCORES, answer_tokens=dict.fromkeys(SCORES, 20),
                                     prompt_tokens=approx_tokens(prompt), source="test"))
        headers = {"x-costroute-tier": tier, "x-costroute-cache": cache}
        if reason is not None:
            headers["x-costroute-cache-reason"] = reason
        text = marker(f"q/{prompt}", tier, SCORES[tier]) + " an answer" if status == 200 else ""
        self.served.append(ProxyReply(n, status, took, text=text, headers=headers if status == 200 else {},
                                  finish_reason=finish if status == 200 else None, sent_s=at))
        return n

    def misses(self) -> dict[int, Miss | None]:
        asks = {r.n: ask_of(r, s, s.headers.get("x-costroute-cache") == "hit", POLICY)
                for r, s in zip(self.requests, self.served)}
        return {n: reask.miss for n, reask in reasked(self.requests, asks).items()}


def test_a_repeat_sent_before_its_first_ask_was_answered_missed_in_flight():
    replay = Replay()
    replay.ask(SKY, at=0.0, took=2.0)
    repeat = replay.ask(SKY, at=0.1)

    miss = replay.misses()[repeat]

    assert miss.label == "in flight"
    assert "1.900 s before #0 was answered" in miss.detail


def test_answers_the_cache_would_not_store_are_named_by_the_proxys_own_admission_policy():
    replay = Replay()
    firsts = [replay.ask(CLOCK, at=0), replay.ask(PHONE, at=1), replay.ask("Write a long story", at=2, finish="length")]
    repeats = [replay.ask(CLOCK, at=10), replay.ask(PHONE, at=11), replay.ask("Write a long story", at=12)]

    misses = replay.misses()

    assert [misses[n].label for n in repeats] == ["not admitted: ttl 0", "not admitted: pii", "not admitted: response"]
    assert misses[repeats[0]].detail == f"#{firsts[0]} not stored: prompt is time-sensitive"
    assert misses[repeats[1]].detail == f"#{firsts[1]} not stored: prompt contains phone"
    assert "truncated" in misses[repeats[2]].detail


def test_an_answer_never_stored_is_the_reason_even_when_the_repeat_overlapped_it():
    replay = Replay()
    replay.ask(PHONE, at=0, took=3.0)
    repeat = replay.ask(PHONE, at=0.1)

    assert replay.misses()[repeat].label == "not admitted: pii"


def test_a_bypass_is_grouped_by_the_proxys_reason_and_keeps_its_words():
    reasons = {"temperature 0.7 asks for varied answers; enable cache_sampled to cache it": "bypass: parameters",
               "unknown parameter 'foo'; list it in cache.key_params or cache.ignored_params": "bypass: parameters",
               "prompt longer than cache.max_prompt_chars (40000 > 32768 characters)": "bypass: size",
               "cache store unavailable": "bypass: store outage", "cache lookup failed": "bypass: store outage",
               "embedding failed": "bypass: embedding", "no user message to match on": "bypass: other"}
    replay = Replay()
    repeats = {}
    for index, reason in enumerate(reasons):
        replay.ask(f"question {index}", at=2 * index)
        repeats[replay.ask(f"question {index}", at=2 * index + 1, cache="bypass", reason=reason)] = reason

    misses = replay.misses()

    assert {reason: misses[n].label for n, reason in repeats.items()} == reasons
    assert all(misses[n].detail == reason for n, reason in repeats.items())


def test_an_answer_kept_shorter_than_the_gap_expired():
    replay = Replay()
    news = "Summarise the recent news about fusion energy."  # kept an hour by the default TTL rules
    replay.ask(news, at=0)
    soon = replay.ask(news, at=1800, cache="hit")
    late = replay.ask(news, at=4000)

    misses = replay.misses()

    assert misses[soon] is None
    assert misses[late] == Miss("expired", "sent 3999.5 s after #0, whose answer was kept 3600 s")


def test_refusals_tiers_and_what_nothing_explains():
    replay = Replay()
    replay.ask("budget question", at=0, status=429)
    refused_first = replay.ask("budget question", at=5)
    replay.ask("late question", at=6)
    refused_repeat = replay.ask("late question", at=8, status=429)
    replay.ask("tier question", at=9, tier="cheap")
    other_tier = replay.ask("tier question", at=11, tier="premium")
    replay.ask("plain question", at=12)
    unexplained = replay.ask("plain question", at=14)

    misses = replay.misses()

    assert misses[refused_first].label == misses[refused_repeat].label == "refused by budget"
    assert misses[other_tier] == Miss("other scope or tier", "served by premium, #4 by cheap")
    assert misses[unexplained].label == "unexplained"


def test_with_several_earlier_asks_the_one_that_came_closest_names_the_reason():
    replay = Replay()
    replay.ask(SKY, at=0, status=500)  # never answered
    replay.ask(SKY, at=1, took=5.0)  # answered, but only after the third ask left
    third = replay.ask(SKY, at=2)

    assert replay.misses()[third].label == "in flight"


def test_a_repeat_that_reached_the_cache_first_led_and_its_first_ask_waited_for_it():
    replay = Replay()
    replay.ask(SKY, at=0, took=2.0, cache="hit")  # sent first, but it followed: served the repeat's answer
    led = replay.ask(SKY, at=0.01, took=1.9)
    replay.ask(CLOCK, at=5, cache="hit")  # a hit long before nothing: still unexplained for its repeat
    lonely = replay.ask(CLOCK, at=7)

    misses = replay.misses()

    assert misses[led] == Miss("led single-flight", "#0, sent with it, was served its answer: one upstream call "
                                                    "for both")
    assert misses[lonely].label == "unexplained"


def test_only_the_same_tenants_earlier_prompt_makes_a_request_re_asked():
    replay = Replay()
    replay.ask(SKY, at=0, tenant="acme")
    other_tenant = replay.ask(SKY, at=2, tenant="globex")

    assert other_tenant not in replay.misses()


def test_the_report_counts_repeat_misses_by_reason_and_the_summary_prints_them():
    replay = Replay()
    replay.ask(CLOCK, at=0)
    replay.ask(SKY, at=1, took=3.0)
    replay.ask(SKY, at=1.5)  # in flight
    replay.ask(CLOCK, at=5)  # never stored: time-sensitive
    replay.ask(SKY, at=6, cache="hit")
    replay.ask(CLOCK, at=7)
    asks = {r.n: ask_of(r, s, s.headers["x-costroute-cache"] == "hit", POLICY)
            for r, s in zip(replay.requests, replay.served)}
    reasks = reasked(replay.requests, asks)
    rates = {tier: (1e-7, 1e-6) for tier in SCORES}
    qids = {qid_tag(r.qid): r.qid for r in replay.requests}
    scored = [with_reask(score_request(r, s, {}, rates, "premium", {}, qids), reasks.get(r.n))
              for r, s in zip(replay.requests, replay.served)]

    report = build_report(replay.requests, scored, rates, "premium", {})

    assert report["cache"] == {"reasked": 4, "reasked_hits": 1, "repeat_misses": 3,
                               "repeat_misses_by_reason": {"not admitted: ttl 0": 2, "in flight": 1}}
    report["run"] = {"workload_counts": {}, "config_changes": []}
    assert ("re-asked: 4 requests, 1 served from the cache, 3 missed: 2 not admitted: ttl 0, 1 in flight"
            in _summary(report).splitlines())


# -- one replay through the real proxy --------------------------------------------------------------------------
SLOW = "Summarise the plot of Hamlet in three sentences."  # answered slowly: a repeat sent with it waits for it
TIMINGS = {tier: {"ttft_ms": 50, "ms_per_token": 2} for tier in SCORES}
FRESH = ("How do vaccines train the immune system?", "What is the difference between a list and a tuple in Python?",
         "Name three uses of graphene.", "Explain compound interest with an example.",
         "What causes the seasons on Earth?", "How does a hash map handle collisions?")


def handmade_requests() -> list[Request]:
    """The cases in arrival order; with two requests in flight, the two SLOW asks leave together."""
    plan = [("acme", CLOCK), ("acme", SKY), ("globex", PHONE), ("globex", SLOW), ("globex", SLOW),
            *(("acme" if i % 2 else "globex", prompt) for i, prompt in enumerate(FRESH)),
            ("acme", CLOCK), ("acme", SKY), ("globex", PHONE), ("globex", SLOW), ("globex", FRESH[0]),
            ("acme", FRESH[1])]
    requests: list[Request] = []
    firsts: dict[tuple[str, str], int] = {}
    for tenant, prompt in plan:
        original = firsts.setdefault((tenant, prompt), len(requests))
        requests.append(Request(
            n=len(requests), tenant=tenant, kind="fresh" if original == len(requests) else "repeat", stream=False,
            prompt=prompt, qid=f"handmade/{original}", scores=SCORES,
            answer_tokens=dict.fromkeys(SCORES, 1000 if prompt == SLOW else 30), prompt_tokens=approx_tokens(prompt),
            source="handmade", original=None if original == len(requests) else original))
    return requests


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("repeat-misses")
    requests = handmade_requests()
    header = {"recipe": {"handmade": True}, "tiers": TIMINGS, "counts": {},
              "tenants": [{"name": "acme", "weight": 1.0}, {"name": "globex", "weight": 1.0}]}
    write_workload(folder / "workload.jsonl", header, requests)
    done = subprocess.run(
        [sys.executable, "-m", "costroute_plugins.cli", "replay", "--workload", str(folder / "workload.jsonl"),
         "--config", str(PROXY_CONFIG), "--concurrency", "2", "--json", "--work-dir", str(folder / "run"),
         "--details", str(folder / "details.jsonl")],
        check=False, capture_output=True, text=True, timeout=400, cwd=folder,
    )
    assert done.returncode == 0, done.stderr[-4000:] + (folder / "run" / "proxy.log").read_text()[-4000:]
    details = [json.loads(line) for line in (folder / "details.jsonl").read_text().splitlines()]
    return {"report": json.loads(done.stdout.strip().splitlines()[-1]), "details": details, "requests": requests}


def test_the_replay_report_says_why_each_re_asked_question_missed_the_cache(replayed):
    cache, requests = replayed["report"]["cache"], replayed["requests"]
    details = {d["n"]: d for d in replayed["details"]}
    repeats = [r for r in requests if r.kind == "repeat"]

    def repeats_of(prompt: str) -> list[dict]:
        return [details[r.n] for r in repeats if r.prompt == prompt]

    assert cache["reasked"] == len(repeats)
    assert sum(cache["repeat_misses_by_reason"].values()) == cache["repeat_misses"] == len(repeats) - cache[
        "reasked_hits"]
    assert repeats_of(CLOCK)[0]["repeat_miss"] == "not admitted: ttl 0"
    assert repeats_of(PHONE)[0]["repeat_miss"] == "not admitted: pii"
    together, later = repeats_of(SLOW)
    first = details[together["first_ask"]]
    # Sent together with its first ask: single-flight sends one of the two upstream and serves the other its
    # answer from the cache; which one leads is whichever reached the cache first.
    if first["served_by"] == "cache":
        assert together["repeat_miss"] == "led single-flight" and together["served_by"] != "cache"
        led = {"led single-flight": 1}
    else:
        assert (together["served_by"], together["repeat_miss"]) == ("cache", None)
        led = {}
    assert cache["repeat_misses_by_reason"] == {"not admitted: ttl 0": 1, "not admitted: pii": 1, **led}
    for hit in (repeats_of(SKY)[0], later, repeats_of(FRESH[0])[0]):  # asked once the first answer was stored
        assert (hit["served_by"], hit["repeat_miss"]) == ("cache", None)
