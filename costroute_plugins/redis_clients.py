"""The one place costroute makes Redis clients, with the one timeout every part shares, on any Redis topology.

Redis sits on request paths (cache lookups, budget reservations, feedback, the quality loop's state): a slow or
unreachable Redis must fail those checks fast, so each part degrades (and says so) instead of holding the
request. One timeout for all of them keeps that promise uniform and in one place.

``redis_url`` names the topology (``docs/redis.md`` has the details):

- ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS), ``unix:///path?db=0``: one server, or a
  managed endpoint that fails over behind one address; redis-py's own URL forms.
- ``redis+cluster://[[user]:password@]host:port[,host:port...][/]`` (``rediss+cluster://``): a Redis Cluster.
  The hosts are seeds (one is enough, more survive one being down); the client learns the other masters and
  follows slot moves. A cluster has database 0 only.
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]`` (``rediss+sentinel://``): the
  master that the Sentinels name for ``service``, followed through failovers. The password is the data nodes';
  the Sentinels themselves are asked without one.

Every store keeps the keys of one atomic operation in one hash slot (a ``{...}`` tag after its prefix, see
``slot_prefix``), so the same code runs on all three.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

TIMEOUT_S = 0.5

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster

#: URL scheme -> (topology, TLS).
_SCHEMES: dict[str, tuple[Literal["cluster", "sentinel"], bool]] = {
    "redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True),
}
_DEFAULT_PORT = {"cluster": 6379, "sentinel": 26379}


@dataclass(frozen=True)
class Topology:
    """What a ``redis_url`` names: one server (redis-py reads its URL itself), a cluster's seed nodes, or Sentinels
    and a service. The password is left out of ``repr``, so a logged topology never shows it."""

    kind: Literal["single", "cluster", "sentinel"]
    nodes: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    service: str = ""
    db: int = 0


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6 address]:port``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError(f"{text!r} names no host")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: the port is out of range")
    return host, port


def parse(url: str) -> Topology:
    """The topology ``url`` names. Raises ``ValueError`` saying what is wrong with it (the start fails on it)."""
    scheme = url.partition("://")[0].lower()
    if scheme not in _SCHEMES:
        redis.ConnectionPool.from_url(url)  # one server: redis-py's own check (scheme, port, db)
        return Topology("single")
    kind, ssl = _SCHEMES[scheme]
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"{scheme}:// URLs take no query parameters or fragment")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    nodes = tuple(_host_port(host, _DEFAULT_PORT[kind]) for host in hosts.split(",") if host)
    if not nodes:
        raise ValueError(f"{scheme}:// needs at least one host:port")
    path = [segment for segment in parts.path.split("/") if segment]
    service, db = "", 0
    if kind == "cluster" and path not in ([], ["0"]):
        raise ValueError("a Redis Cluster has database 0 only: end the URL with / (or /0)")
    if kind == "sentinel":
        if not 1 <= len(path) <= 2:
            raise ValueError("name the Sentinel service after the hosts: redis+sentinel://host:26379/service[/db]")
        service = unquote(path[0])
        if len(path) == 2:
            if not path[1].isdigit():
                raise ValueError(f"database {path[1]!r} is not a number")
            db = int(path[1])
    return Topology(kind, nodes, unquote(username) or None, unquote(password) or None, ssl, service, db)


class _LazyClusterClient:
    """A blocking cluster client made on its first use. redis-py's constructor connects to learn the slots, which
    would make a cluster that is down at start fail the start; every other client connects lazily, so a store
    that is down only degrades the requests that need it until it answers. A failed first use is retried on the
    next one."""

    def __init__(self, make: Callable[[], redis.cluster.RedisCluster]) -> None:
        self._make = make
        self._client: redis.cluster.RedisCluster | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
        return getattr(self._client, name)


def sync_client(url: str) -> SyncClient:
    """A blocking client (the cache store, the feedback store and the router registry, which run off the event
    loop)."""
    at = parse(url)
    if at.kind == "cluster":
        nodes = [redis.cluster.ClusterNode(host, port) for host, port in at.nodes]
        lazy = _LazyClusterClient(lambda: redis.cluster.RedisCluster(
            startup_nodes=nodes, username=at.username, password=at.password, ssl=at.ssl,
            socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S))
        return cast(redis.cluster.RedisCluster, lazy)  # it answers every attribute of the client it makes
    if at.kind == "sentinel":
        sentinels = redis.sentinel.Sentinel(
            list(at.nodes), sentinel_kwargs={"ssl": at.ssl, "socket_timeout": TIMEOUT_S,
                                             "socket_connect_timeout": TIMEOUT_S})
        return sentinels.master_for(at.service, db=at.db, username=at.username, password=at.password, ssl=at.ssl,
                                    socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def async_client(url: str) -> AsyncClient:
    """An asyncio client (budget counters, the audit spend cap and the quality loop's shared state)."""
    at = parse(url)
    if at.kind == "cluster":  # connects on its first command
        return redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in at.nodes],
            username=at.username, password=at.password, ssl=at.ssl, socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S)
    if at.kind == "sentinel":
        sentinels = redis.asyncio.sentinel.Sentinel(
            list(at.nodes), sentinel_kwargs={"ssl": at.ssl, "socket_timeout": TIMEOUT_S,
                                             "socket_connect_timeout": TIMEOUT_S})
        return sentinels.master_for(at.service, redis_class=redis.asyncio.Redis, db=at.db, username=at.username,
                                    password=at.password, ssl=at.ssl, socket_timeout=TIMEOUT_S,
                                    socket_connect_timeout=TIMEOUT_S)
    return redis.asyncio.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)


def slot_prefix(prefix: str, keyspace: str) -> str:
    """``prefix`` and a hash tag naming ``keyspace``: keys that start with it hash to one cluster slot, so one
    Lua script or ``MULTI`` may touch them all (Redis Cluster refuses one that spans slots). The keys still start
    with ``prefix``, so a scan for it finds them. A prefix that holds a tag of its own keeps that tag (Redis hashes
    the first ``{...}`` in a key)."""
    return f"{prefix}{{{keyspace}}}:"
