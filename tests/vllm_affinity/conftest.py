"""Shared pieces of the vllm_affinity tests."""

from __future__ import annotations

from tests.harness import REPO

TINY_MODEL = REPO / "vllm" / "models" / "tiny-llama"
