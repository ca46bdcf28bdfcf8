"""The second opinions a blended router artifact may name (``routing/blend.py``), as the proxy provides them.

Routing never imports LiteLLM; this adapter does. ``costroute learn`` may blend LiteLLM's complexity-router keyword
heuristic into the router's score; an artifact that does names it ``litellm-heuristic`` and is served with it,
built once per process when an artifact first needs it.

When this LiteLLM cannot build it (a version without the complexity router), that is logged and counted
(``costroute_plugin_degraded{plugin="router", reason="blend"}``) and the artifact is not served: its thresholds
are calibrated on the blended score, and the router's own score against them would send a share of traffic to
each tier that no configured target describes. The caller then does what it does for any router that cannot
load: the configured artifact serves ``baseline_tier`` to every ``auto`` request (what the client gets without
costroute); a registry version is not followed, and the router in place keeps serving.
"""

from __future__ import annotations

import logging

from costroute_plugins.metrics import Metrics
from costroute_plugins.routing.base import TierClassifier
from costroute_plugins.routing.blend import BlendError, SecondOpinions

LITELLM_HEURISTIC = "litellm-heuristic"

log = logging.getLogger("costroute")


def proxy_second_opinions(metrics: Metrics | None = None) -> SecondOpinions:
    """Builders by name for ``Router.from_settings`` / ``LiveRouter``; ``metrics`` counts a build that fails."""
    built: list[TierClassifier] = []

    def litellm_heuristic() -> TierClassifier:
        if not built:
            from costroute_plugins.proxy.litellm_heuristic import LiteLLMHeuristicClassifier

            try:
                built.append(LiteLLMHeuristicClassifier("heuristic"))
            except Exception as error:  # an older LiteLLM: no complexity router to score with
                log.error("router: the artifact blends LiteLLM's complexity-router heuristic, which this LiteLLM "
                          "cannot build (%s: %s); the artifact is not served", type(error).__name__, error)
                if metrics is not None:
                    metrics.plugin_degraded.labels("router", "blend").inc()
                raise BlendError(f"second opinion {LITELLM_HEURISTIC!r} unavailable in this LiteLLM "
                                 f"({type(error).__name__}: {error}); upgrade LiteLLM (1.106 or later) or publish "
                                 "a router learned with `costroute learn --second-opinion none`") from error
        return built[0]

    return {LITELLM_HEURISTIC: litellm_heuristic}
