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

from costroute_plugins.routing.artifact import default_artifact_path, load_artifact
from costroute_plugins.routing.registry import ArtifactRegistry
from tests.harness import Proxy, start_proxy, tier_env, wait_until, write_config

EASY = "Say hello in French."


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
