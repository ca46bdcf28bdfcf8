"""The router registry as an operator and a replica use it: publish, poll the live version, roll back."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.routing import registry as registry_module
from costroute_plugins.routing.artifact import RouterArtifact
from costroute_plugins.routing.features import STRUCTURAL_NAMES, HashingConfig
from costroute_plugins.routing.registry import ArtifactRegistry, RedisMirror, RegistryError
from tests.conftest import REDIS_URL


def tiny_artifact(intercept: float) -> RouterArtifact:
    """A valid artifact small enough to publish hundreds of times; ``intercept`` tells versions apart."""
    hashing = HashingConfig(word_buckets=8, char_buckets=8)
    n = len(STRUCTURAL_NAMES)
    arrays = {"idf": np.ones(16), "w_text": np.zeros(16, np.float32), "w_embedding": np.zeros(4, np.float32),
              "embedding_mean": np.zeros(4, np.float32), "w_structural": np.zeros(n), "structural_mean": np.zeros(n),
              "structural_scale": np.ones(n)}
    return RouterArtifact("cheap-model", "premium-model", hashing, "all-MiniLM-L6-v2", intercept, arrays)


def test_each_publish_is_a_new_version_and_the_newest_is_live(tmp_path: Path):
    registry = ArtifactRegistry(tmp_path / "router")
    assert registry.live_version() is None and registry.versions() == []

    assert registry.publish(tiny_artifact(1.0), note="first") == "v0001"
    assert registry.publish(tiny_artifact(2.0), note="second") == "v0002"

    assert registry.live_version() == "v0002" and registry.load("v0002").intercept == 2.0
    assert sorted(path.name for path in (tmp_path / "router").glob("v*")) == \
        ["v0001.json", "v0001.npz", "v0002.json", "v0002.npz"]
    assert [(v.version, v.live, v.note) for v in registry.versions()] == \
        [("v0001", False, "first"), ("v0002", True, "second")]


def test_rollback_walks_back_through_the_live_versions(tmp_path: Path):
    registry = ArtifactRegistry(tmp_path)
    for intercept in (1.0, 2.0, 3.0):
        registry.publish(tiny_artifact(intercept))

    assert registry.rollback() == "v0002" and registry.live().intercept == 2.0
    assert registry.rollback() == "v0001"
    with pytest.raises(RegistryError, match="no earlier live version"):
        registry.rollback()
    assert registry.publish(tiny_artifact(4.0)) == "v0004"  # numbers are never reused
    assert registry.rollback() == "v0001"


def test_a_shadow_candidate_is_not_live_until_promoted(tmp_path: Path):
    registry = ArtifactRegistry(tmp_path)
    registry.publish(tiny_artifact(1.0))

    registry.publish(tiny_artifact(2.0), shadow=True)

    assert (registry.live_version(), registry.shadow_version()) == ("v0001", "v0002")
    assert registry.promote() == "v0002"
    assert (registry.live_version(), registry.shadow_version()) == ("v0002", None)
    assert registry.rollback() == "v0001"
    with pytest.raises(RegistryError, match="no shadow version"):
        registry.promote()


def test_a_version_that_cannot_be_loaded_back_never_goes_live(tmp_path: Path, monkeypatch):
    registry = ArtifactRegistry(tmp_path)
    registry.publish(tiny_artifact(1.0))

    def broken(path):
        raise ArtifactError(f"{path} is broken")

    monkeypatch.setattr(registry_module, "load_artifact", broken)
    with pytest.raises(ArtifactError):
        registry.publish(tiny_artifact(2.0))
    monkeypatch.undo()

    assert registry.live_version() == "v0001"
    assert registry.publish(tiny_artifact(3.0)) == "v0003"  # the orphaned v0002 files are never overwritten


def test_a_replica_polling_during_publishes_and_rollbacks_always_reads_a_whole_pointer(tmp_path: Path):
    writer = ArtifactRegistry(tmp_path)
    writer.publish(tiny_artifact(0.0))
    seen: set[str | None] = set()
    errors: list[Exception] = []
    done = threading.Event()

    def poll() -> None:
        replica = ArtifactRegistry(tmp_path)  # another process's view: its own cache of the index
        while not done.is_set():
            try:
                seen.add(replica.live_version())
            except (RegistryError, OSError) as error:  # a torn read: invalid JSON or a missing schema
                errors.append(error)

    readers = [threading.Thread(target=poll) for _ in range(2)]
    for reader in readers:
        reader.start()
    for intercept in range(1, 40):
        writer.publish(tiny_artifact(float(intercept)))
        if intercept % 3 == 0:
            writer.rollback()
    done.set()
    for reader in readers:
        reader.join()

    assert errors == []
    assert None not in seen and all(ArtifactRegistry(tmp_path).load(version) for version in seen)


def test_replicas_without_the_folder_follow_the_live_version_through_redis(tmp_path: Path, redis_prefix: str):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    publisher = ArtifactRegistry(tmp_path / "publisher", RedisMirror(client, redis_prefix))
    replica = ArtifactRegistry(tmp_path / "replica-cache", RedisMirror(client, redis_prefix))
    publisher.publish(tiny_artifact(1.0))
    publisher.publish(tiny_artifact(2.0))

    assert replica.live_version() == "v0002" and replica.load("v0002").intercept == 2.0
    publisher.rollback()
    assert replica.live_version() == "v0001" and replica.load("v0001").intercept == 1.0
    assert (tmp_path / "replica-cache" / "v0001.npz").is_file()  # fetched once, then read locally
    with pytest.raises(RegistryError, match="neither in"):
        replica.load("v0009")
