"""LiteLLM's own complexity-router scorer, wrapped as a ``TierClassifier`` so evaluation compares like for like.

This is the only routing module that imports LiteLLM. It builds a ``ComplexityRouter`` the way LiteLLM's own
eval suite does (no deployments needed for local scoring), extracts the ask and system prompt from the
messages with LiteLLM's extraction, and scores it through the router's local classification path:

* ``heuristic`` (LiteLLM's default): the keyword scorer's tier, then its weighted score within the tier;
* ``heuristic_v2``: the tier predicted from its shipped UltraFeedback artifact, then the forecast probability
  that the cheapest tier fails.

Tier first, then score, because the router's ``reasoning_override`` can pick a tier the score alone would not.
"""

from __future__ import annotations

import math
import os
from typing import Literal
from unittest.mock import MagicMock

from costroute_plugins.routing.base import RequestView, TierClassifier

Variant = Literal["heuristic", "heuristic_v2"]


class LiteLLMHeuristicClassifier(TierClassifier):
    def __init__(self, variant: Variant = "heuristic") -> None:
        # Importing LiteLLM otherwise tries to download its price map first; scoring needs no prices, and an
        # offline evaluation should not stall on retries. A proxy that already imported LiteLLM is unaffected.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        from litellm.router_strategy.complexity_router import complexity_router as module
        from litellm.router_strategy.complexity_router.config import TIER_SEVERITY_ORDER

        self.name = "litellm-heuristic" if variant == "heuristic" else "litellm-heuristic-v2"
        self.variant = variant
        # The router only touches its LiteLLM Router for deployments; local scoring never does, hence a stub.
        self._router = module.ComplexityRouter(
            model_name="costroute-eval", litellm_router_instance=MagicMock(),
            complexity_router_config={"classifier_type": variant},
        )
        self._extract = module._extract_current_ask_and_system_prompt
        self._cheapest = TIER_SEVERITY_ORDER[0].value
        self._severity = {tier.value: index for index, tier in enumerate(TIER_SEVERITY_ORDER)}

    def premium_need(self, request: RequestView) -> float:
        ask, system_prompt = self._extract(request.messages)
        outcome = self._router._classify_locally(ask or "", system_prompt)
        tier = outcome.tier.value if hasattr(outcome.tier, "value") else str(outcome.tier)
        severity = self._severity.get(tier, len(self._severity) - 1)
        forecast = outcome.heuristic_v2_forecast
        if forecast is not None:
            within = 1.0 - float(forecast["probabilities"][self._cheapest])
        else:
            within = 1.0 / (1.0 + math.exp(-4.0 * float(outcome.score or 0.0)))
        return (severity + within) / len(self._severity)
