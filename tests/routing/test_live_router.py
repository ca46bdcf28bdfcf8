"""A replica following the registry: the live version replaces the configured artifact, a shadow candidate is
scored beside it, and a version that cannot be served leaves the router in place."""

from __future__ import annotations

import pytest

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.routing.artifact import default_artifact_path, load_artifact
from costroute_plugins.routing.live_router import LiveRouter
from costroute_plugins.routing.registry import ArtifactRegistry
from costroute_plugins.routing.router import Router, RouterSettings

SETTINGS = RouterSettings()


def test_a_replica_follows_live_and_shadow_versions(tmp_path):
    registry = ArtifactRegistry.open(tmp_path)
    live = LiveRouter(SETTINGS, Router.from_settings(SETTINGS), registry)
    assert not live.poll() and live.version is None  # nothing published: the configured artifact serves

    registry.publish(load_artifact(default_artifact_path()))
    followed = live.poll()
    assert followed.live == "v0001" and live.version == "v0001" and live.shadow is None

    registry.publish(load_artifact(default_artifact_path()), shadow=True)
    assert live.poll().shadow == "v0002"
    assert live.shadow.decide([{"role": "user", "content": "hi there"}]).tier in ("cheap", "balanced", "premium")
    assert not live.poll()  # nothing changed since


def test_a_version_that_cannot_load_leaves_the_serving_router_in_place(tmp_path):
    registry = ArtifactRegistry.open(tmp_path)
    registry.publish(load_artifact(default_artifact_path()))
    live = LiveRouter(SETTINGS, Router.from_settings(SETTINGS), registry)
    live.poll()
    serving = live.router
    registry.publish(load_artifact(default_artifact_path()))
    (tmp_path / "v0002.npz").write_bytes(b"broken")
    with pytest.raises(ArtifactError):
        live.poll()
    assert live.router is serving and live.version == "v0001"
