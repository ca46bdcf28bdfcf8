"""Shared fixtures: stub upstreams per tier, the real LiteLLM proxy, and isolated real Redis / PostgreSQL.

Starting a proxy costs 10-15 s, so the default proxy (the repo's own proxy_config.yaml pointed at stubs) is
shared by the whole session; tests that need another config start their own with ``tests.harness``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

# LiteLLM's remote price list is unreachable here: tests that import LiteLLM read its bundled copy at once.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.harness import Proxy, Stub, start_proxy, start_stub, tier_env, write_config
from tests.support.redis_topologies import RedisClusterSet, redis_server_missing

TIERS = ("cheap", "balanced", "premium")
REDIS_URL = os.environ.get("COSTROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get("COSTROUTE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def ledger_schema() -> Iterator[str]:
    """A PostgreSQL schema of the module's own for the ledger table, dropped afterwards."""
    schema = f"costroute_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="session")
def stubs(process_logs: Path) -> Iterator[dict[str, Stub]]:
    """One stub upstream per tier, named after it, so an answer shows which tier produced it."""
    started = {tier: start_stub(tier, process_logs) for tier in TIERS}
    yield started
    for stub in started.values():
        stub.managed.stop()


@pytest.fixture
def fresh_stubs(stubs: dict[str, Stub]) -> dict[str, Stub]:
    """The session's stubs with default behaviour and an empty request log."""
    for stub in stubs.values():
        stub.clear()
    return stubs


@pytest.fixture(scope="session")
def proxy(stubs: dict[str, Stub], process_logs: Path, tmp_path_factory) -> Iterator[Proxy]:
    """The repo's proxy_config.yaml served by the real LiteLLM proxy with tiers on stubs, its semantic cache off:
    these tests ask one question more than once to watch routing and fallbacks (``test_cache_proxy`` covers the
    cache)."""
    config = write_config(tmp_path_factory.mktemp("shipped") / "proxy_config.yaml",
                          costroute={"cache": {"enabled": False}})
    running = start_proxy(config, process_logs, env=tier_env(stubs))
    yield running
    running.stop()


def isolated_redis_prefix(suffix: str = "", redis_url: str = REDIS_URL) -> Iterator[str]:
    """A key prefix unique to its user on the real Redis (``COSTROUTE_TEST_REDIS_URL``: any topology costroute
    accepts); every key under it is deleted afterwards, on every master of a cluster."""
    from costroute_plugins.redis_clients import sync_client

    prefix = f"costroute-test:{uuid.uuid4().hex[:12]}:{suffix}"
    yield prefix
    client = sync_client(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterSet]:
    """A 3-master Redis Cluster of this session's own on loopback ports (``tests/support/redis_topologies.py``),
    shared by every module that runs costroute on a cluster; skipped where ``redis-server`` is missing."""
    missing = redis_server_missing()
    if missing:
        pytest.skip(missing)
    cluster = RedisClusterSet(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix private to the test."""
    yield from isolated_redis_prefix()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A PostgreSQL schema unique to the test on the real server, dropped afterwards."""
    import psycopg

    schema = f"costroute_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
