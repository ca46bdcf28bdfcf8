"""Redis and PostgreSQL servers private to one test module, so a fault test can kill and restart them.

The shared servers on 6379 / 5432 are used by every other test at the same time and are never touched here.
Both private servers persist like production ones (Redis with an append-only file fsynced on every write,
PostgreSQL with its WAL), so a restart after ``kill -9`` / ``pg_ctl stop -m immediate`` finds the data again.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.harness import free_port, wait_until


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.folder / "redis.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                 "yes", "--appendfsync", "always", "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(lambda: redis.Redis(port=self.port).ping(), 20, "private redis", self.process)

    def kill(self) -> None:
        """``kill -9``: no shutdown save, clients see connections reset and then refused."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throw-away cluster (initdb) on a free port. As root the server runs as the ``postgres`` user."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="costroute-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: the server dies without a checkpoint, as in a crash (recovery replays its WAL)."""
        subprocess.run([*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, timeout=60)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
