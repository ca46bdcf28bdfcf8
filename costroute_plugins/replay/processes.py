"""The replay's child processes: one stub per tier and the real LiteLLM proxy, each logging to a file.

They are started with this Python's environment (the proxy is the ``litellm`` script beside it) and stopped
with SIGTERM, then SIGKILL; a process that dies while starting fails the replay with the tail of its log.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; nothing if it has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _spawn(name: str, args: list[str], log_dir: Path, port: int, env: Mapping[str, str] | None = None) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as handle:
        process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
    return Child(name, port, process, log_path)


def _wait(child: Child, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.process.returncode} while starting:\n"
                               f"{child.log_tail()}")
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    child.stop()
    raise TimeoutError(f"{child.name} not ready after {timeout:.0f} s:\n{child.log_tail()}")


def start_stub(tier: str, answers: Path, log_dir: Path, timeout: float = 60) -> Child:
    port = free_port()
    child = _spawn(f"stub-{tier}", [sys.executable, "-m", "costroute_plugins.cli", "stub-upstream", "--port",
                                    str(port), "--name", tier, "--outcomes", str(answers)], log_dir, port)
    _wait(child, lambda: httpx.get(f"{child.url}/health", timeout=2).status_code == 200, timeout)
    return child


def new_master_key() -> str:
    return "sk-" + secrets.token_hex(24)


def start_proxy(config: Path, log_dir: Path, env: Mapping[str, str], timeout: float = 240) -> Child:
    """``litellm --config CONFIG`` on a free port; ready once /health/liveliness answers 200."""
    port = free_port()
    litellm = str(Path(sys.executable).parent / "litellm")
    full_env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "LITELLM_TELEMETRY": "False", **env}
    child = _spawn("proxy", [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                   log_dir, port, full_env)
    _wait(child, lambda: httpx.get(f"{child.url}/health/liveliness", timeout=2).status_code == 200, timeout)
    return child
