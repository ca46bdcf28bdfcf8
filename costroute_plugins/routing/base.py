"""The one interface every router classifier implements, in the spirit of RouteLLM's ``calculate_strong_win_rate``.

A classifier only answers "how likely is it that the cheap model is NOT sufficient for this request?".
Thresholds, tiers, calibration and evaluation are built on that single number, so a new classifier is one
method and everything else (the cascade, ``calibrate``, ``eval-router``) works with it unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from costroute_plugins.messages import Message, last_user_text

EMBEDDING_DIM = 384


@dataclass(frozen=True)
class RequestView:
    """What a classifier may look at: the OpenAI-format messages and, optionally, their MiniLM embedding.

    ``embedding`` is the unit-length float32 vector (dim 384) of ``last_user_text(messages)``; the proxy computes
    it once per request and shares it with the semantic cache, which is why it is passed in, not computed here.
    """

    messages: Sequence[Message]
    embedding: np.ndarray | None = None

    @classmethod
    def of_prompt(cls, prompt: str, embedding: np.ndarray | None = None) -> RequestView:
        return cls(messages=({"role": "user", "content": prompt},), embedding=embedding)

    @cached_property
    def text(self) -> str:
        return last_user_text(self.messages)


class TierClassifier(ABC):
    """Scores requests by their need for the premium tier."""

    #: Short name used by ``eval-router`` output and in decision reasons.
    name: str = "classifier"

    @abstractmethod
    def premium_need(self, request: RequestView) -> float:
        """Probability-like score in [0, 1] that the request needs the premium tier (the cheap model is not
        sufficient). Only the order of scores matters to evaluation; calibration turns it into thresholds."""

    def premium_need_batch(self, requests: Sequence[RequestView]) -> np.ndarray:
        """Scores for many requests; classifiers with a vectorised path override this for training and eval."""
        return np.array([self.premium_need(request) for request in requests], dtype=np.float64)
