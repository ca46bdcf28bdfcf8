"""Through the real proxy: `model: auto` lands on the tier costroute's router chooses, LiteLLM records it, and
shadow mode or a broken router changes nothing the client depends on."""

from __future__ import annotations

from pathlib import Path

from tests.harness import Proxy, start_proxy, tier_env, write_config

EASY = "Translate 'good morning' into Spanish."
HARD = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why "
        "this remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture.")


def ask(proxy: Proxy, text: str):
    return proxy.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}])


def test_easy_prompt_goes_to_cheap_and_hard_prompt_to_premium(proxy: Proxy, fresh_stubs):
    easy, hard = ask(proxy, EASY), ask(proxy, HARD)

    assert easy.headers["x-costroute-tier"] == "cheap"
    assert easy.parse().choices[0].message.content.startswith("[cheap]")
    assert hard.headers["x-costroute-tier"] == "premium"
    assert hard.parse().choices[0].message.content.startswith("[premium]")
    assert float(hard.headers["x-costroute-router-score"]) > float(easy.headers["x-costroute-router-score"])
    assert easy.headers["x-litellm-complexity-router-tier"] == "cheap"  # LiteLLM recorded the decision


def test_shadow_mode_decides_but_serves_the_default_tier(stubs, fresh_stubs, process_logs: Path, tmp_path: Path):
    config = write_config(tmp_path / "shadow.yaml", costroute={"routing": {"mode": "shadow", "default_tier":
                                                                             "balanced"}})
    shadow = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        hard = ask(shadow, HARD)
    finally:
        shadow.stop()

    assert hard.parse().choices[0].message.content.startswith("[balanced]")
    assert "router shadow: would serve premium" in shadow.log()


def test_a_broken_router_artifact_degrades_to_the_default_tier(stubs, fresh_stubs, process_logs, tmp_path):
    broken = tmp_path / "router.json"
    broken.write_text("{not json")
    config = write_config(tmp_path / "broken.yaml", costroute={"routing": {"artifact": str(broken)}})
    degraded = start_proxy(config, process_logs, env=tier_env(stubs))
    try:
        hard = ask(degraded, HARD)
        with degraded.http() as http:
            metrics = http.get("/metrics/", follow_redirects=True).text
    finally:
        degraded.stop()

    assert hard.http_response.status_code == 200
    assert hard.parse().choices[0].message.content.startswith("[cheap]")
    assert "router: cannot load" in degraded.log()
    assert 'costroute_plugin_degraded_total{plugin="router",reason="load"} 1.0' in metrics
