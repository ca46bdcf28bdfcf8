"""Real processes for tests: the LiteLLM proxy started from a config, and OpenAI-compatible stub upstreams.

Every later test module reuses these. Processes are started with the same Python as the tests, log to files
under the test's temporary folder (printed on failure), and are stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from costroute_plugins.replay.processes import free_port, stop_process

REPO = Path(__file__).resolve().parents[1]
PROXY_CONFIG = REPO / "proxy_config.yaml"


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready:\n{tail}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = log.read_text()[-4000:] if log and log.exists() else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n{tail}")


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop()`` is idempotent."""

    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def spawn(
    args: list[str], log_path: Path, env: Mapping[str, str] | None = None, cwd: Path = REPO, inherit_env: bool = True
) -> ManagedProcess:
    """Start ``args`` logging to ``log_path``; ``env`` adds to this process's environment unless not inherited."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    with open(log_path, "wb") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            args, stdout=handle, stderr=subprocess.STDOUT, env=full_env, cwd=cwd, start_new_session=True
        )
    return ManagedProcess(process, log_path)


@dataclass
class Stub:
    """One stub upstream; ``control()`` changes its behaviour, ``received()`` shows what it was sent."""

    name: str
    port: int
    managed: ManagedProcess

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def control(self, **changes: Any) -> dict[str, Any]:
        return httpx.post(f"http://127.0.0.1:{self.port}/_control", json=changes, timeout=5).json()

    def received(self) -> list[dict[str, Any]]:
        return httpx.get(f"http://127.0.0.1:{self.port}/_requests", timeout=5).json()

    def clear(self) -> None:
        httpx.delete(f"http://127.0.0.1:{self.port}/_requests", timeout=5)
        self.control(reset=True)


def refused_start(config: Path, log_path: Path) -> ManagedProcess:
    """Start the proxy on ``config`` and wait for it to exit (a config it refuses); the caller reads its log."""
    proxy = spawn(
        [str(Path(sys.executable).parent / "litellm"), "--config", str(config), "--port", str(free_port())],
        log_path, env={"LITELLM_MASTER_KEY": "sk-" + "a1" * 32, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
    )
    try:
        proxy.process.wait(timeout=120)
    finally:
        proxy.stop()
    return proxy


def start_stub(name: str, log_dir: Path, **behaviour: Any) -> Stub:
    port = free_port()
    managed = spawn(
        [sys.executable, "-m", "costroute_plugins.cli", "stub-upstream", "--port", str(port), "--name", name],
        log_dir / f"stub-{name}.log",
    )
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200,
        30, f"stub {name}", managed.process, managed.log_path,
    )
    stub = Stub(name, port, managed)
    if behaviour:
        stub.control(**behaviour)
    return stub


def tier_env(stubs: Mapping[str, Stub]) -> dict[str, str]:
    """Environment that points proxy_config.yaml's tiers at stub upstreams (as an operator points at real ones)."""
    env = {f"COSTROUTE_{name.upper()}_API_BASE": stub.base_url for name, stub in stubs.items()}
    env.setdefault("OPENAI_API_KEY", "sk-stub-not-a-real-key")
    return env


@dataclass
class Proxy:
    """A running LiteLLM proxy; ``client()`` is an OpenAI client authenticated with its master key."""

    port: int
    master_key: str
    managed: ManagedProcess
    config_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str | None = None, **kwargs: Any):
        from openai import OpenAI

        return OpenAI(base_url=f"{self.url}/v1", api_key=api_key or self.master_key, max_retries=0, **kwargs)

    def http(self, api_key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {api_key or self.master_key}"}, timeout=60
        )

    def log(self) -> str:
        return self.managed.log()

    def stop(self) -> None:
        self.managed.stop()


def new_master_key() -> str:
    return "sk-" + secrets.token_hex(32)


def start_proxy(
    config_path: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    python: str = sys.executable,
    port: int | None = None,
    timeout: float = 120,
) -> Proxy:
    """``litellm --config CONFIG`` as a subprocess; returns once /health/liveliness answers 200."""
    port = port or free_port()
    master_key = new_master_key()
    litellm = str(Path(python).parent / "litellm")
    full_env = {
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LITELLM_TELEMETRY": "False",
        **(env or {}),
    }
    managed = spawn(
        [litellm, "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port)],
        log_dir / f"proxy-{port}.log",
        env=full_env,
    )
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=2).status_code == 200,
        timeout, f"LiteLLM proxy on port {port}", managed.process, managed.log_path,
    )
    return Proxy(port, master_key, managed, config_path, dict(full_env))


def write_config(path: Path, base: Path = PROXY_CONFIG, costroute: Mapping[str, Any] | None = None) -> Path:
    """A copy of ``base`` with the ``costroute:`` section's keys overridden (deep for nested sections)."""
    document = yaml.safe_load(base.read_text())
    section = document.setdefault("costroute", {}) or {}
    for key, value in (costroute or {}).items():
        if isinstance(value, Mapping) and isinstance(section.get(key), Mapping):
            section[key] = {**section[key], **value}
        else:
            section[key] = value
    document["costroute"] = section
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
