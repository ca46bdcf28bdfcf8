"""The complexity router's custom classifier: LiteLLM asks it which tier serves a ``model: auto`` request."""

from __future__ import annotations

from typing import Any

from costroute_plugins.proxy.runtime import Runtime


class TierClassifier:
    """Implements LiteLLM's ``ClassifierPlugin`` protocol (``classify(context) -> tier | None``).

    LiteLLM records the returned tier as the routing decision (cause ``classifier_plugin``) and computes the
    routing saving against its premium baseline. Returning None lets the router's ``fallback_tier`` decide.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __deepcopy__(self, memo: dict) -> TierClassifier:
        # LiteLLM's Router deep-copies the model list, which holds this instance: share it, never clone it
        # (it holds the process's metrics and, later, loaded models).
        return self

    async def classify(self, context: Any) -> str | None:
        return self.runtime.config.routing.default_tier
