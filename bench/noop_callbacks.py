"""Six LiteLLM callbacks that do nothing, as many as costroute registers (``bench/litellm_floor.py``): what
LiteLLM spends per request on calling a callback's hooks, whatever the callback does."""

from __future__ import annotations

from litellm.integrations.custom_logger import CustomLogger


class NoOp(CustomLogger):
    """Overrides no hook: LiteLLM calls its base class's empty ones."""


first, second, third, fourth, fifth, sixth = (NoOp() for _ in range(6))
NAMES = [f"bench.noop_callbacks.{name}" for name in ("first", "second", "third", "fourth", "fifth", "sixth")]
