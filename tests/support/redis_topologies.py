"""A Redis Cluster (3 masters) and a Sentinel set (1 master, 1 replica, 1 sentinel) of a test module's own.

Operators run costroute's ``redis_url`` against both topologies, so the tests do too: real ``redis-server``
processes on free loopback ports, data folders under the module's temporary folder, no persistence (a test never
restarts them with their data). Each topology is started once per module and stopped at its end; the shared Redis
on 6379 is never touched. ``redis_server_missing()`` says why a module must skip (no ``redis-server`` on PATH).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.harness import ManagedProcess, free_port, spawn, wait_until

#: Slots 0..16383 split in three contiguous ranges, one per master, as ``redis-cli --cluster create`` would.
SLOTS = 16384
#: The Sentinel service name the tests' URLs name.
SERVICE = "costroute"


def redis_server_missing() -> str | None:
    """Why Redis topologies cannot be started here, or None when they can (Redis 7: ``--cluster-port`` and
    ``CLUSTER ADDSLOTSRANGE``)."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (install Redis 7 or newer: apt-get install redis-server)"
    found = re.search(r"v=(\d+)\.", subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                                  timeout=30).stdout)
    if found is None or int(found.group(1)) < 7:
        return f"redis-server is older than Redis 7 ({found.group(0) if found else 'unknown version'})"
    return None


def _server(folder: Path, port: int, *options: str) -> ManagedProcess:
    """One ``redis-server`` on 127.0.0.1:``port``, logging to ``folder``/redis.log, without persistence."""
    folder.mkdir(parents=True, exist_ok=True)
    started = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(folder), *options], folder / "redis.log")
    wait_until(lambda: _ping(port), 20, f"redis-server on {port}", started.process, started.log_path)
    return started


def _ping(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def _info(port: int, section: str) -> dict:
    client = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
    try:
        return client.info(section)
    finally:
        client.close()


@dataclass
class RedisClusterSet:
    """Three masters sharing the 16384 slots, no replicas: what the cache, budgets and feedback must work on."""

    folder: Path
    ports: list[int] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)
    servers: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports) + "/"

    def start(self) -> RedisClusterSet:
        """Returns once every master agrees on the slots; a failed start stops what it started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> RedisClusterSet:
        # Bus ports of their own: the default (port + 10000) can be out of range for an ephemeral port.
        self.ports, self.bus_ports = [free_port() for _ in range(3)], [free_port() for _ in range(3)]
        for port, bus_port in zip(self.ports, self.bus_ports, strict=True):
            self.servers.append(_server(self.folder / str(port), port, "--cluster-enabled", "yes",
                                        "--cluster-port", str(bus_port), "--cluster-config-file", "nodes.conf",
                                        "--cluster-node-timeout", "5000"))
        bounds = [SLOTS * index // 3 for index in range(4)]
        for index, port in enumerate(self.ports):
            with redis.Redis(port=port) as node:
                node.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1)
                if index:
                    node.execute_command("CLUSTER", "MEET", "127.0.0.1", self.ports[0], self.bus_ports[0])
        wait_until(self._formed, 60, "the 3-master Redis cluster to agree on its slots")
        return self

    def _formed(self) -> bool:
        for port in self.ports:
            with redis.Redis(port=port, decode_responses=True) as node:
                state = node.cluster("INFO")
            if state.get("cluster_state") != "ok" or int(state.get("cluster_known_nodes", 0)) != 3:
                return False
        return True

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@dataclass
class SentinelSet:
    """A master, its replica and one Sentinel watching them (quorum 1): the smallest set that fails over.

    ``down_after_ms`` is how long the master must be unreachable before the Sentinel promotes the replica;
    production sets several seconds, the tests one so a failover completes within a few requests."""

    folder: Path
    down_after_ms: int = 1000
    master_port: int = 0
    replica_port: int = 0
    sentinel_port: int = 0
    servers: dict[int, ManagedProcess] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{SERVICE}/0"

    def start(self) -> SentinelSet:
        """Returns once the Sentinel watches the master and its synced replica; a failed start stops what it
        started."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> SentinelSet:
        self.master_port, self.replica_port, self.sentinel_port = free_port(), free_port(), free_port()
        self.servers[self.master_port] = _server(self.folder / "master", self.master_port)
        self.servers[self.replica_port] = _server(self.folder / "replica", self.replica_port,
                                                  "--replicaof", "127.0.0.1", str(self.master_port))
        wait_until(lambda: _info(self.replica_port, "replication").get("master_link_status") == "up", 30,
                   "the replica to sync with the master")
        folder = self.folder / "sentinel"
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "sentinel.conf"  # a Sentinel rewrites its config file: it must be its own, writable
        config.write_text(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {folder}\n"
                          f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 1\n"
                          f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                          f"sentinel failover-timeout {SERVICE} 10000\n")
        sentinel = spawn(["redis-server", str(config), "--sentinel"], folder / "sentinel.log")
        self.servers[self.sentinel_port] = sentinel
        wait_until(self._watching, 30, "the Sentinel to see the master and its replica", sentinel.process,
                   sentinel.log_path)
        return self

    def _sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.sentinel_port, socket_timeout=1, decode_responses=True)

    def _watching(self) -> bool:
        with self._sentinel() as sentinel:
            try:
                replicas = sentinel.sentinel_slaves(SERVICE)
            except redis.ConnectionError:
                return False
        return any(replica["port"] == self.replica_port and not replica["is_sdown"] for replica in replicas)

    def master(self) -> int:
        """The port of the master the Sentinel names now."""
        with self._sentinel() as sentinel:
            return int(sentinel.sentinel_get_master_addr_by_name(SERVICE)[1])

    def crash_master(self) -> int:
        """``kill -9`` the current master, as a machine failure would; returns its port."""
        port = self.master()
        server = self.servers[port].process
        server.kill()
        server.wait(timeout=10)
        return port

    def wait_for_failover(self, away_from: int, timeout: float = 60) -> int:
        """Until the Sentinel names a master other than ``away_from`` and that one accepts writes; its port."""
        def promoted() -> bool:
            port = self.master()
            return port != away_from and _info(port, "replication").get("role") == "master"

        wait_until(promoted, timeout, "the Sentinel to promote the replica")
        return self.master()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
