"""Benchmarks: `make bench` runs every `bench_*.py` here; each prints its figures and ratios to a baseline.

They run from the checkout, on its shipped ``proxy_config.yaml``, and start processes with
``costroute_plugins.harness`` as the tests do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from costroute_plugins.harness.config_edits import read_config, with_costroute, write_config

REPO = Path(__file__).resolve().parents[1]
PROXY_CONFIG = REPO / "proxy_config.yaml"
VLLM_DIR = REPO / "vllm"


def shipped_config(path: Path, costroute: Mapping[str, Any]) -> Path:
    """``proxy_config.yaml`` with its ``costroute:`` section's keys overridden, written to ``path``."""
    return write_config(path, with_costroute(read_config(PROXY_CONFIG), costroute))
