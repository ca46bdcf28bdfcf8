"""Shared pieces of the vllm_affinity tests."""

from __future__ import annotations

import os

from tests.harness import REPO

# The adapter tests import LiteLLM, which otherwise tries to fetch its price list from the internet first.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TINY_MODEL = REPO / "vllm" / "models" / "tiny-llama"
