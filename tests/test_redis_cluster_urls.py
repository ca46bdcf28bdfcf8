"""An operator writes a cluster or Sentinel ``redis_url`` as docs/redis.md shows it: costroute reads the
topology from it, and a URL it cannot use fails ``costroute check-config`` (and the start) naming the fix,
without printing the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from costroute_plugins.cli import main
from costroute_plugins.redis_clients import Topology, parse
from tests.harness import write_config


def test_a_cluster_url_names_its_seed_nodes_and_credentials():
    found = parse("redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002/")

    assert found == Topology("cluster", (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)), "app", "s@cret")
    assert "s@cret" not in repr(found)
    assert parse("rediss+cluster://:pw@redis.internal:6379").ssl


def test_a_sentinel_url_names_its_sentinels_service_and_database():
    found = parse("redis+sentinel://:pw@s1:26379,s2/costroute-main/2")

    assert (found.kind, found.nodes, found.service, found.db) == (
        "sentinel", (("s1", 26379), ("s2", 26379)), "costroute-main", 2)
    assert (found.username, found.password, found.ssl) == (None, "pw", False)
    assert parse("rediss+sentinel://s1/main").db == 0 and parse("rediss+sentinel://s1/main").ssl


def test_a_plain_url_stays_redis_py_s_own():
    assert parse("redis://:pw@127.0.0.1:6379/3").kind == "single"
    assert parse("unix:///run/redis.sock?db=1").kind == "single"


@pytest.mark.parametrize(("url", "why"), [
    ("redis+cluster://10.0.0.1:7000/1", "database 0 only"),
    ("redis+cluster:///", "at least one host"),
    ("redis+sentinel://s1:26379", "name the Sentinel service"),
    ("redis+sentinel://s1:26379/main/x", "'x' is not a number"),
    ("redis+cluster://10.0.0.1:70000/", "out of range"),
    ("redis+cluster://10.0.0.1:7000/?ssl_cert_reqs=none", "no query parameters"),
    ("redis+sentinel://s1:port/main", "not a number"),
])
def test_a_malformed_cluster_or_sentinel_url_is_refused_with_the_reason(url: str, why: str):
    with pytest.raises(ValueError, match=why):
        parse(url)


def test_check_config_names_the_bad_redis_url_and_the_forms_that_work(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("COSTROUTE_LEDGER_DSN", raising=False)
    path = write_config(tmp_path / "cluster.yaml", costroute={"redis_url": "redis+cluster://:s3cret@10.0.0.1:7000/4"})

    code = main(["check-config", str(path)])
    err = capsys.readouterr().err

    assert code == 1 and "s3cret" not in err
    assert "ERROR costroute.redis_url: 'redis+cluster://:***@10.0.0.1:7000/4' is not a Redis URL (a Redis Cluster " \
           "has database 0 only" in err
    assert "redis+cluster://host:6379[,host:6379...]/ for a Redis Cluster" in err
    assert "redis+sentinel://host:26379[,host:26379...]/service/0 for Sentinel" in err
