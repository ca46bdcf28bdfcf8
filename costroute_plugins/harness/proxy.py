"""The real LiteLLM proxy on a config, and OpenAI-compatible stub tiers (``costroute stub-upstream``), as children.

Both are started with this Python's environment and returned once they answer; one that fails to start is
stopped before the error is raised, so a failed start leaves nothing running.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from costroute_plugins.harness.processes import (
    OFFLINE_ENV,
    ManagedProcess,
    answers,
    free_port,
    new_master_key,
    proxy_command,
    spawn,
    wait_until,
)


@dataclass
class Stub:
    """One stub tier; ``control()`` changes its behaviour, ``received()`` shows what it was sent."""

    name: str
    port: int
    managed: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What a deployment's ``api_base`` names."""
        return f"{self.url}/v1"

    def control(self, **changes: Any) -> dict[str, Any]:
        return httpx.post(f"{self.url}/_control", json=changes, timeout=5).json()

    def received(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_requests", timeout=5).json()

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_requests", timeout=5)
        self.control(reset=True)

    def stop(self) -> None:
        self.managed.stop()


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
        """Needs the ``openai`` package (the test extra); the proxy itself does not."""
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


def _started(managed: ManagedProcess, ready_url: str, timeout: float, what: str) -> None:
    try:
        wait_until(lambda: answers(ready_url), timeout, what, managed.process, managed.log_path)
    except BaseException:
        managed.stop()
        raise


def start_stub(name: str, log_dir: Path, *, outcomes: Path | None = None, cwd: Path | None = None,
               timeout: float = 30, **behaviour: Any) -> Stub:
    """A stub tier named ``name`` on a free port; ``outcomes``: answer with a replay's recorded outcomes."""
    port = free_port()
    args = [sys.executable, "-m", "costroute_plugins.cli", "stub-upstream", "--port", str(port), "--name", name]
    if outcomes is not None:
        args += ["--outcomes", str(outcomes)]
    stub = Stub(name, port, spawn(args, log_dir / f"stub-{name}.log", cwd=cwd))
    _started(stub.managed, f"{stub.url}/health", timeout, f"stub {name}")
    if behaviour:
        stub.control(**behaviour)
    return stub


def tier_env(stubs: Mapping[str, Stub]) -> dict[str, str]:
    """Environment that points proxy_config.yaml's tiers at stub tiers (as an operator points at real ones)."""
    env = {f"COSTROUTE_{name.upper()}_API_BASE": stub.base_url for name, stub in stubs.items()}
    env.setdefault("OPENAI_API_KEY", "sk-stub-not-a-real-key")
    return env


def start_proxy(config_path: Path, log_dir: Path, env: Mapping[str, str] | None = None, *,
                python: str = sys.executable, port: int | None = None, timeout: float = 120,
                cwd: Path | None = None, log_name: str | None = None) -> Proxy:
    """``litellm --config CONFIG`` on loopback with a new master key in ``LITELLM_MASTER_KEY`` (a config's own
    ``master_key`` takes precedence in LiteLLM); returns once /health/liveliness answers 200. Logs to
    ``log_name`` in ``log_dir`` (default ``proxy-PORT.log``)."""
    port = port or free_port()
    master_key = new_master_key()
    full_env = {"LITELLM_MASTER_KEY": master_key, **OFFLINE_ENV, "LITELLM_TELEMETRY": "False", **(env or {})}
    managed = spawn(proxy_command(config_path, "127.0.0.1", port, python), log_dir / (log_name or f"proxy-{port}.log"),
                    env=full_env, cwd=cwd)
    proxy = Proxy(port, master_key, managed, config_path, dict(full_env))
    _started(managed, f"{proxy.url}/health/liveliness", timeout, f"LiteLLM proxy on port {port}")
    return proxy
