"""The affinity tests' vLLM workers: ``costroute_plugins.harness.vllm_workers`` on this checkout's ``vllm/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costroute_plugins.harness.vllm_workers import Worker, affinity_proxy_config, tiny_model
from costroute_plugins.harness.vllm_workers import start_workers as start_workers_in
from tests.harness import REPO

VLLM_DIR = REPO / "vllm"
TINY_MODEL = tiny_model(VLLM_DIR)

__all__ = ["TINY_MODEL", "Worker", "affinity_proxy_config", "start_workers"]


def start_workers(count: int, log_dir: Path, **options: Any) -> list[Worker]:
    return start_workers_in(count, log_dir, VLLM_DIR, cwd=REPO, **options)
