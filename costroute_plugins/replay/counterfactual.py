"""What the router alone would have chosen for requests a budget touched, to split routing from budget savings.

A request under budget pressure was routed with relaxed thresholds, or pinned to the cheapest tier at the cap.
Its saving over premium is partly the router's (the tier it picks unconstrained) and partly the budget's (the
rest). The unconstrained tier comes from the request's router score against the configured thresholds when the
proxy reported a score, else from scoring the prompt here with the same router and embedding model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from costroute_plugins.config import CostrouteConfig
from costroute_plugins.replay.workload import Request


def unconstrained_tiers(config: CostrouteConfig, requests: Sequence[Request],
                        scores: Mapping[int, float | None]) -> dict[int, str]:
    """Tier per request number for ``requests`` (those a budget touched); ``scores`` are the proxy's own."""
    if not requests:
        return {}
    routing = config.routing
    if routing.mode != "enforce":
        return {request.n: str(routing.baseline_tier) for request in requests}
    from costroute_plugins.routing.cli_common import second_opinions
    from costroute_plugins.routing.router import Router

    router = Router.from_settings(routing, second_opinions())
    names = [tier.name for tier in router.tiers]

    def by_score(score: float) -> str:
        chosen = names[0]
        for index, threshold in enumerate(router.thresholds):
            if score >= threshold:
                chosen = names[index + 1]
        return chosen

    result = {request.n: by_score(float(score)) for request in requests
              if (score := scores.get(request.n)) is not None}
    unscored = [request for request in requests if request.n not in result]
    if unscored:
        embed = None
        if routing.classifier == "logistic":
            from costroute_plugins.embedding import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder(config.embedding_model) if config.embedding_model \
                else SentenceTransformerEmbedder()
            embed = embedder.embed([request.prompt for request in unscored])
        for index, request in enumerate(unscored):
            decision = router.decide(request.messages, None if embed is None else embed[index])
            result[request.n] = decision.tier
    return result
