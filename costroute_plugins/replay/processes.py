"""The replay's child processes: one stub per tier answering with its recorded outcomes, and the real LiteLLM
proxy, each logging to a file in the replay's folder (``proxy.log``, ``stub-TIER.log``).

They are started and stopped by ``costroute_plugins.harness``; a process that dies while starting fails the
replay with the tail of its log. The derived config names its own master key, which LiteLLM prefers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from costroute_plugins.harness import proxy as harness
from costroute_plugins.harness.processes import new_master_key

Child = harness.Stub | harness.Proxy

__all__ = ["Child", "new_master_key", "start_proxy", "start_stub"]


def start_stub(tier: str, answers: Path, log_dir: Path, timeout: float = 60) -> harness.Stub:
    return harness.start_stub(tier, log_dir, outcomes=answers, timeout=timeout)


def start_proxy(config: Path, log_dir: Path, env: Mapping[str, str], timeout: float = 240) -> harness.Proxy:
    return harness.start_proxy(config, log_dir, env, timeout=timeout, log_name="proxy.log")
