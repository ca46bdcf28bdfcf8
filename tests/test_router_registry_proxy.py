"""Through the real proxy: an operator publishes a retrained router with `costroute learn` and every replica
serves it without a restart; a rollback takes effect the same way.

The published "retrained" router here is the shipped artifact with its calibration moved so that every prompt
reaches the top tier: a change a request can see in the tier that answers it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from costroute_plugins.routing.artifact import Blend, default_artifact_path, load_artifact
from costroute_plugins.routing.base import RequestView
from costroute_plugins.routing.blend import quantiles
from costroute_plugins.routing.cli_common import second_opinions
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.registry import ArtifactRegistry
from tests.harness import Proxy, start_proxy, tier_env, wait_until, write_config

EASY = "Say hello in French."
HARD = ("Prove that there are infinitely many primes p such that p+2 is also prime, or explain rigorously why "
        "this remains open, then derive the asymptotic density predicted by the Hardy-Littlewood conjecture.")


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> ArtifactRegistry:
    registry = ArtifactRegistry.open(tmp_path_factory.mktemp("registry"))
    registry.publish(load_artifact(default_artifact_path()), note="the shipped router")
    return registry


@pytest.fixture(scope="module")
def following(stubs, process_logs: Path, tmp_path_factory, registry: ArtifactRegistry) -> Iterator[Proxy]:
    config = write_config(tmp_path_factory.mktemp("following") / "config.yaml", costroute={
        "routing": {"registry": str(registry.directory), "registry_poll_s": 0.5},
        "cache": {"enabled": False},
    })
    running = start_proxy(config, process_logs, env=tier_env(stubs))
    yield running
    running.stop()


def served_tier(proxy: Proxy) -> str:
    answer = proxy.client().chat.completions.create(model="auto", messages=[{"role": "user", "content": EASY}])
    return re.match(r"\[([\w-]+)\]", answer.choices[0].message.content).group(1)


def router_score(proxy: Proxy, prompt: str) -> float:
    answer = proxy.client().chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": prompt}])
    return float(answer.headers["x-costroute-router-score"])


def everything_to_the_top(registry: ArtifactRegistry):
    live = registry.live()
    return replace(live, calibration=tuple(replace(entry, threshold=0.0) for entry in live.calibration))


def test_a_published_router_is_served_without_a_restart_and_a_rollback_undoes_it(following, registry):
    before = served_tier(following)
    assert before != "premium"  # an easy prompt stays below the top tier with the shipped router

    registry.publish(everything_to_the_top(registry), note="retrained")
    wait_until(lambda: served_tier(following) == "premium", 20, "the proxy serving the published router")
    assert "now serving registry version v0002" in following.log()

    assert registry.rollback() == "v0001"
    wait_until(lambda: served_tier(following) == before, 20, "the proxy back on the previous router")
    assert "now serving registry version v0001" in following.log()


def blended_with_litellm_heuristic(registry: ArtifactRegistry):
    """What `costroute learn` publishes where the operator's audits favour LiteLLM's heuristic (routing/blend.py):
    the live router with the heuristic's rank blended in, its CDFs measured on a few prompts."""
    live = registry.live()
    views = [RequestView.of_prompt(prompt) for prompt in (EASY, HARD, "What is 2+2?", "Write a haiku about rain.",
                                                          "Explain the proof of the central limit theorem.")]
    heuristic = second_opinions()["litellm-heuristic"]()
    blend = Blend("litellm-heuristic", 0.6, quantiles(LogisticClassifier(live).premium_need_batch(views)),
                  quantiles(heuristic.premium_need_batch(views)))
    return replace(live, blend=blend)


def test_a_router_learned_with_litellm_s_heuristic_blended_in_is_served_with_it(following, registry):
    published = registry.publish(blended_with_litellm_heuristic(registry), note="learned, blended")

    # The proxy checks its registry as requests arrive.
    wait_until(lambda: router_score(following, EASY) is not None and
               f"now serving registry version {published}" in following.log(), 20, "the proxy serving the blend")
    easy, hard = router_score(following, EASY), router_score(following, HARD)
    assert 0.0 <= easy < hard <= 1.0  # a blend of ranks: both scorers put the proof above the greeting
    with following.http() as http:
        metrics = http.get("/metrics/", follow_redirects=True).text
    assert 'reason="blend"' not in metrics  # the proxy's LiteLLM provided the heuristic
    registry.rollback()
