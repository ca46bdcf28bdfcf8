"""Reference points for ``eval-router``: any router worth shipping must beat these."""

from __future__ import annotations

from costroute_plugins.routing.base import RequestView, TierClassifier


class RandomClassifier(TierClassifier):
    """Scores every request alike. Evaluation breaks ties in random order (averaged over seeds), so this *is*
    random routing, with no generator state to seed or share."""

    name = "random"

    def premium_need(self, request: RequestView) -> float:
        return 0.5


class LengthClassifier(TierClassifier):
    """Longer asks go to premium first: the simplest signal most hand-written routers lean on."""

    name = "length"

    def premium_need(self, request: RequestView) -> float:
        length = len(request.text)
        return length / (length + 1000.0)
