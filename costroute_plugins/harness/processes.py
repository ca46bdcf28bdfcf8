"""Child processes: started in a session of their own, logging to a file, waited for, stopped with SIGTERM then
SIGKILL; and the master keys the proxy is started with.

A child that dies while starting fails the wait at once, with the tail of its log, instead of after the timeout.
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

#: LiteLLM's remote price list and the Hugging Face hub are not reachable offline: read the bundled copies.
OFFLINE_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


@dataclass
class ManagedProcess:
    """A child process with its log file; ``stop()`` is idempotent."""

    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def spawn(args: list[str], log_path: Path, env: Mapping[str, str] | None = None, *, cwd: Path | None = None,
          inherit_env: bool = True, append: bool = False) -> ManagedProcess:
    """Start ``args`` logging to ``log_path`` (``append``: after what earlier runs logged there); ``env`` adds to
    this process's environment unless it is not inherited. A session of its own, so a Ctrl-C meant for the caller
    does not reach the child before the caller stops it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    with open(log_path, "ab" if append else "wb") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
                                   start_new_session=True)
    return ManagedProcess(process, log_path)


def answers(url: str) -> bool:
    """``url`` answers 200 now (a child's health or readiness endpoint)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, process: subprocess.Popen | None = None,
               log: Path | None = None, *, still_waiting: Callable[[], None] | None = None,
               note_every_s: float = 15.0) -> None:
    """Poll ``check`` until it is true; raise if ``process`` exits first or ``timeout`` passes, with ``log``'s
    tail. ``still_waiting`` is called every ``note_every_s`` seconds, so a slow start never looks like a hang."""
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting (log {log}):\n"
                               f"{_tail(log)}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if still_waiting is not None and time.monotonic() - last_note >= note_every_s:
            still_waiting()
            last_note = time.monotonic()
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s (log {log}):\n{_tail(log)}")


def _tail(log: Path | None, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""


def proxy_command(config: Path, host: str, port: int, python: str = sys.executable) -> list[str]:
    """``litellm --config CONFIG``, the ``litellm`` script installed beside ``python``."""
    return [str(Path(python).parent / "litellm"), "--config", str(config), "--host", host, "--port", str(port)]


def new_master_key() -> str:
    return "sk-" + secrets.token_hex(32)


def stored_master_key(key_file: Path) -> tuple[str, bool]:
    """The key kept in ``key_file``, generated there on first use so restarts keep it; True when generated now.

    The file is created owner-only: a key written first and chmod-ed after is readable by others in between."""
    created = not key_file.exists()
    if created:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(new_master_key() + "\n")
    return key_file.read_text().strip(), created
