"""Real processes for tests: ``costroute_plugins.harness`` run from this checkout, on its ``proxy_config.yaml``.

Processes are started with the same Python as the tests, in the checkout, log to files under the test's temporary
folder (printed on failure), and are stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from costroute_plugins.harness import config_edits
from costroute_plugins.harness import processes as _processes
from costroute_plugins.harness import proxy as _proxy
from costroute_plugins.harness.processes import ManagedProcess, free_port, new_master_key, proxy_command, wait_until
from costroute_plugins.harness.proxy import Proxy, Stub, tier_env

REPO = Path(__file__).resolve().parents[1]
PROXY_CONFIG = REPO / "proxy_config.yaml"

__all__ = ["PROXY_CONFIG", "REPO", "ManagedProcess", "Proxy", "Stub", "free_port", "new_master_key",
           "refused_start", "spawn", "start_proxy", "start_stub", "tier_env", "wait_until", "write_config"]


def spawn(args: list[str], log_path: Path, env: Mapping[str, str] | None = None, cwd: Path = REPO,
          inherit_env: bool = True) -> ManagedProcess:
    return _processes.spawn(args, log_path, env, cwd=cwd, inherit_env=inherit_env)


def start_stub(name: str, log_dir: Path, **behaviour: Any) -> Stub:
    return _proxy.start_stub(name, log_dir, cwd=REPO, **behaviour)


def start_proxy(config_path: Path, log_dir: Path, env: Mapping[str, str] | None = None, **options: Any) -> Proxy:
    return _proxy.start_proxy(config_path, log_dir, env, cwd=REPO, **options)


def refused_start(config: Path, log_path: Path) -> ManagedProcess:
    """Start the proxy on ``config`` and wait for it to exit (a config it refuses); the caller reads its log."""
    proxy = spawn(proxy_command(config, "127.0.0.1", free_port()), log_path,
                  env={"LITELLM_MASTER_KEY": new_master_key(), "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    try:
        proxy.process.wait(timeout=120)
    finally:
        proxy.stop()
    return proxy


def write_config(path: Path, base: Path = PROXY_CONFIG, costroute: Mapping[str, Any] | None = None,
                 team_keys: bool = False) -> Path:
    """A copy of ``base`` with the ``costroute:`` section's keys overridden (deep for nested sections); with
    ``team_keys``, keys ``sk-team-<name>`` authenticate as team ``<name>`` (several tenants, no database)."""
    document = config_edits.with_costroute(config_edits.read_config(base), costroute or {})
    return config_edits.write_config(path, config_edits.with_team_keys(document) if team_keys else document)
