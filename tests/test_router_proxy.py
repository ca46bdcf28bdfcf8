"""Through the real proxy: `model: auto` lands on the tier costroute's router chooses, LiteLLM records it, and
shadow mode or a broken router changes nothing the client depends on."""

from __future__ import annotations

import time
from pathlib import Path

from tests.harness import Proxy, start_proxy, tier_env, write_config

EASY = "Translate 'good morning' into Spanish."
HARD = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why "
        "this remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture.")


def ask(proxy: Proxy, text: str):
    return proxy.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}])


NEXT_TIER_UP = {"cheap": "balanced", "balanced": "premium"}


def test_easy_prompt_goes_to_a_cheaper_tier_and_hard_prompt_to_premium(proxy: Proxy, fresh_stubs):
    easy, hard = ask(proxy, EASY), ask(proxy, HARD)

    # Which cheaper tier an easy prompt gets is the shipped targets' call (proxy_config.yaml keeps cheap for the
    # prompts the router is surest about); wherever it lands, that tier answers and LiteLLM records it.
    chosen = easy.headers["x-costroute-tier"]
    assert chosen in NEXT_TIER_UP
    assert easy.parse().choices[0].message.content.startswith(f"[{chosen}]")
    assert hard.headers["x-costroute-tier"] == "premium"
    assert hard.parse().choices[0].message.content.startswith("[premium]")
    assert float(hard.headers["x-costroute-router-score"]) > float(easy.headers["x-costroute-router-score"])
    assert easy.headers["x-litellm-complexity-router-tier"] == chosen  # LiteLLM recorded the decision


def test_a_failing_tier_falls_back_to_the_next_tier_up(proxy: Proxy, fresh_stubs):
    chosen = ask(proxy, EASY).headers["x-costroute-tier"]
    fresh_stubs[chosen].control(fail_rate=1.0, fail_status=503)

    easy = ask(proxy, EASY)

    assert easy.http_response.status_code == 200
    assert easy.headers["x-costroute-tier"] == NEXT_TIER_UP[chosen]  # the tier that actually answered
    assert easy.parse().choices[0].message.content.startswith(f"[{NEXT_TIER_UP[chosen]}]")
    assert len(fresh_stubs[chosen].received()) >= 2  # the chosen tier was tried first


def test_a_tier_that_times_out_falls_back_too(proxy: Proxy, fresh_stubs):
    chosen = ask(proxy, EASY).headers["x-costroute-tier"]
    fresh_stubs[chosen].control(latency_ms=5000)

    easy = proxy.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EASY}], extra_body={"timeout": 1})

    assert easy.headers["x-costroute-tier"] == NEXT_TIER_UP[chosen]
    assert easy.parse().choices[0].message.content.startswith(f"[{NEXT_TIER_UP[chosen]}]")


def test_shadow_mode_decides_but_changes_nothing_the_client_sees(stubs, fresh_stubs, process_logs: Path,
                                                                  tmp_path: Path):
    config = write_config(tmp_path / "shadow.yaml", costroute={"routing": {"mode": "shadow"}})
    shadow = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        easy, direct = ask(shadow, EASY), shadow.client().chat.completions.with_raw_response.create(
            model="premium", messages=[{"role": "user", "content": EASY}])
    finally:
        shadow.stop()

    # Exactly what the client gets without costroute (the top tier), with the same costroute headers: no score,
    # no other tier; only the log says the router would have served a cheaper one.
    assert easy.parse().choices[0].message.content == direct.parse().choices[0].message.content
    def decision_headers(response) -> dict[str, str]:  # the request id is new on every request, as LiteLLM's is
        return {name: value for name, value in response.headers.items()
                if name.startswith("x-costroute") and name != "x-costroute-request-id"}

    costroute_headers = decision_headers(easy)
    assert costroute_headers == decision_headers(direct)
    assert costroute_headers["x-costroute-tier"] == "premium"
    assert "router shadow: would serve" in shadow.log() and "serving premium" in shadow.log()


def test_a_broken_router_artifact_degrades_to_the_baseline_tier(stubs, fresh_stubs, process_logs, tmp_path):
    broken = tmp_path / "router.json"
    broken.write_text("{not json")
    config = write_config(tmp_path / "broken.yaml", costroute={"routing": {"artifact": str(broken),
                                                                           "allow_degraded_start": True}})
    degraded = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        easy = ask(degraded, EASY)
        with degraded.http() as http:
            metrics = http.get("/metrics/", follow_redirects=True).text
    finally:
        degraded.stop()

    assert easy.http_response.status_code == 200
    assert easy.parse().choices[0].message.content.startswith("[premium]")  # never a cheaper tier on failure
    assert "router: cannot load" in degraded.log()
    assert 'costroute_plugin_degraded_total{plugin="router",reason="load"} 1.0' in metrics


def test_the_decision_and_the_tenant_reach_litellms_spend_log_payload(stubs, fresh_stubs, process_logs, tmp_path):
    import json

    import yaml

    from tests.harness import REPO

    capture = tmp_path / "spend-log.jsonl"
    config = write_config(tmp_path / "capture.yaml")
    document = yaml.safe_load(config.read_text())
    document["litellm_settings"]["callbacks"].append("tests.support.spend_log_capture.capture")
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    proxy = start_proxy(config, process_logs,
                        env={**tier_env(stubs), "PYTHONPATH": str(REPO), "SPEND_LOG_CAPTURE": str(capture)})
    try:
        raw = proxy.client().chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": HARD}],
            extra_body={"tags": ["feature:math-help", "experiment:router-v1"]})
        for _ in range(150):  # the payload is written after the answer; slow on a loaded host
            if capture.exists() and capture.read_text().strip():
                break
            time.sleep(0.2)
    finally:
        proxy.stop()

    payload = json.loads(capture.read_text().splitlines()[0])
    spend_log = payload["metadata"]["spend_logs_metadata"]
    assert raw.headers["x-costroute-tier"] == "premium"
    assert spend_log["costroute_route_tier"] == "premium"
    assert spend_log["costroute_route_reason"].startswith("premium: costroute-logistic score")
    assert spend_log["costroute_tenant"].startswith("key:")
    assert spend_log["costroute_feature"] == "math-help"
    assert spend_log["costroute_budget_state"] == "normal"  # the shipped example budget, far from its cap
    assert "feature:math-help" in payload["request_tags"]
    assert payload["response_cost"] > 0
