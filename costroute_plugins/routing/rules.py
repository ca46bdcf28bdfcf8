"""Structural rules only: no training, no embedding. A transparent fallback and a baseline to beat.

It adds up hand-set evidence that a request is hard (code, math, reasoning asks, multi-part structure,
length) minus evidence that it is easy (a short "what is" / greeting opening). The weights are judgement,
not fitted, which is exactly what makes it a useful sanity check for the trained model.
"""

from __future__ import annotations

import math

from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.features import STRUCTURAL_NAMES, structural_features

_RULE_WEIGHTS: dict[str, float] = {
    "log_words": 0.35,
    "code_hits": 0.6,
    "code_fence": 0.8,
    "math_hits": 0.5,
    "math_chars": 0.25,
    "latex": 0.5,
    "numbers": 0.2,
    "list_items": 0.2,
    "question_marks": 0.2,
    "why_how": 0.4,
    "reasoning_hits": 0.5,
    "step_by_step": 0.6,
    "user_turns": 0.3,
    "simple_opening": -1.2,
}
_BIAS = -2.5
_INDEX = {name: STRUCTURAL_NAMES.index(name) for name in _RULE_WEIGHTS}


class RulesClassifier(TierClassifier):
    name = "rules"

    def __init__(self, max_chars: int = 2000) -> None:
        self.max_chars = max_chars

    def premium_need(self, request: RequestView) -> float:
        features = structural_features(request.messages, request.text, self.max_chars)
        z = _BIAS + sum(weight * features[_INDEX[name]] for name, weight in _RULE_WEIGHTS.items())
        return 1.0 / (1.0 + math.exp(-z))
