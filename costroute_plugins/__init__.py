"""costroute: cost plugins for an existing LiteLLM proxy (semantic cache, tier router, budgets, spend, vLLM)."""

__version__ = "0.1.0"
