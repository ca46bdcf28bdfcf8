"""The complexity router's custom classifier: LiteLLM asks it which tier serves a ``model: auto`` request.

It scores the request with costroute's router (``routing.router.Router``: logistic regression over text,
structure and the request's MiniLM embedding, which the semantic cache then reuses) and returns the tier.
``mode: shadow`` logs the decision and serves ``default_tier``; budget pressure relaxes the thresholds; a
budget at its cap with action ``downgrade`` forces the cheapest tier. A router that cannot load or fails
answers ``default_tier`` and says so in logs and metrics: it never fails the request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from costroute_plugins.proxy.request import STATE_KEY
from costroute_plugins.proxy.runtime import Runtime, log
from costroute_plugins.routing.router import Router


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class TierClassifier:
    """Implements LiteLLM's ``ClassifierPlugin`` protocol (``classify(context) -> tier | None``).

    LiteLLM records the returned tier as the routing decision (cause ``classifier_plugin``) and computes the
    routing saving against its premium baseline.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.router: Router | None = None
        if runtime.config.routing.mode != "off":
            self._load()

    def _load(self) -> None:
        settings = self.runtime.config.routing
        try:
            self.router = Router.from_settings(settings)
        except Exception as error:  # bad or missing artifact: route everything to the default tier
            log.error("router: cannot load (%s: %s); every auto request goes to %s", type(error).__name__, error,
                      settings.default_tier)
            self.runtime.metrics.plugin_degraded.labels("router", "load").inc()
            self.runtime.metrics.plugin_up.labels("router").set(0)
            return
        self.runtime.metrics.plugin_up.labels("router").set(1)
        self.runtime.warm_embedder()
        log.info("router: %s classifier, tiers %s, mode %s", settings.classifier,
                 ", ".join(f"{t.name}>={v:.3f}" for t, v in zip(settings.tiers[1:], self.router.thresholds)),
                 settings.mode)

    def __deepcopy__(self, memo: dict) -> TierClassifier:
        # LiteLLM's Router deep-copies the model list, which holds this instance: share it, never clone it.
        return self

    async def classify(self, context: Any) -> str | None:
        settings = self.runtime.config.routing
        metadata = getattr(context, "metadata", None) or {}
        state = metadata.get(STATE_KEY) or {}
        # LiteLLM hands the classifier a shallow copy of the request metadata: nested dicts are the request's own.
        spend_log = metadata.get("spend_logs_metadata") if isinstance(metadata.get("spend_logs_metadata"), dict) \
            else {}
        if state.get("forced_tier"):  # a budget at its cap with action downgrade
            state["routing"] = {"tier": state["forced_tier"], "reason": "budget downgrade"}
            spend_log.update(costroute_route_tier=state["forced_tier"], costroute_route_reason="budget downgrade")
            return str(state["forced_tier"])
        if self.router is None:
            return settings.default_tier
        messages = list(getattr(context, "structured_messages", None) or [])
        try:
            relaxation = float((state.get("budget") or {}).get("quality_relaxation") or 0.0)
            decision = await asyncio.to_thread(self._decide, state, messages, relaxation)
        except Exception as error:
            log.warning("router: decision failed (%s: %s); serving %s", type(error).__name__, error,
                        settings.default_tier)
            self.runtime.metrics.plugin_degraded.labels("router", "decide").inc()
            return settings.default_tier
        state["routing"] = {"tier": decision.tier, "score": round(decision.score, 4), "reason": decision.reason,
                            "mode": settings.mode}
        spend_log.update(costroute_route_tier=decision.tier, costroute_route_score=round(decision.score, 4),
                         costroute_route_reason=decision.reason, costroute_route_mode=settings.mode)
        if settings.mode == "shadow":
            log.info("router shadow: would serve %s (%s); serving %s", decision.tier, decision.reason,
                     settings.default_tier)
            return settings.default_tier
        return decision.tier

    def _decide(self, state: dict[str, Any], messages: list[dict[str, Any]], relaxation: float):
        text = _last_user_text(messages)
        embedding = self.runtime.embeddings.vector(str(state.get("request_id", "")), text) if text else None
        return self.router.decide(messages, embedding, relaxation=relaxation)
