"""Validate the ``model: auto`` router entries that name costroute's classifier, before LiteLLM builds them.

LiteLLM 1.106 logs an invalid complexity-router deployment and carries on without it, so a typo there shows up
only as "no healthy deployments for model auto" on the first request. costroute checks those entries at load
and stops the start with the key at fault and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from costroute_plugins.config import CostrouteConfig

ROUTER_MODEL = "auto_router/complexity_router"
OUR_CLASSIFIER = "costroute_plugins."


class _ClassifierStandIn:
    """Satisfies LiteLLM's ClassifierPlugin protocol while validating, before the real instance is resolved."""

    async def classify(self, context: Any) -> str | None:
        return None


def classifier_timeout_ms(document: Mapping[str, Any]) -> float:
    """How long LiteLLM waits for costroute's classifier before serving its fallback tier: the shortest
    ``classifier_plugin_timeout_ms`` among the entries naming it (LiteLLM's default where unset)."""
    from litellm.router_strategy.complexity_router.config import ComplexityRouterConfig

    default = float(ComplexityRouterConfig.model_fields["classifier_plugin_timeout_ms"].default)
    timeouts = [float(router.get("classifier_plugin_timeout_ms") or default)
                for router in our_router_entries(document)]
    return min(timeouts, default=default)


def our_router_entries(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``complexity_router_config`` of every ``model_list`` entry whose classifier is costroute's."""
    routers = []
    for deployment in document.get("model_list") or []:
        params = (deployment.get("litellm_params") or {}) if isinstance(deployment, Mapping) else {}
        router = params.get("complexity_router_config") or {}
        if params.get("model") == ROUTER_MODEL and str(router.get("classifier_plugin", "")).startswith(OUR_CLASSIFIER):
            routers.append(router)
    return routers


def router_problems(document: Mapping[str, Any], config: CostrouteConfig) -> list[str]:
    """One message per problem in ``model_list`` entries routed by costroute's classifier."""
    from litellm.router_strategy.complexity_router.config import ComplexityRouterConfig

    deployments = document.get("model_list") or []
    groups = {d.get("model_name") for d in deployments if isinstance(d, Mapping)}
    problems: list[str] = []
    for index, deployment in enumerate(deployments):
        if not isinstance(deployment, Mapping):
            continue
        params = deployment.get("litellm_params") or {}
        router = params.get("complexity_router_config") or {}
        plugin = router.get("classifier_plugin")
        if params.get("model") != ROUTER_MODEL or not str(plugin or "").startswith(OUR_CLASSIFIER):
            continue
        where = f"model_list[{index}] ({deployment.get('model_name')}).litellm_params.complexity_router_config"
        try:
            ComplexityRouterConfig.model_validate({**router, "classifier_plugin": _ClassifierStandIn()})
        except ValidationError as error:
            for problem in error.errors():
                key = ".".join(str(part) for part in problem["loc"]) or "(entry)"
                problems.append(f"{where}.{key}: {problem['msg'].removeprefix('Value error, ')}")
            continue
        tiers = router.get("tiers") or {}
        if router.get("fallback_tier") != config.routing.baseline_tier:
            problems.append(
                f"{where}.fallback_tier: {router.get('fallback_tier')!r} is what LiteLLM serves when costroute's "
                f"classifier times out, but costroute serves routing.baseline_tier "
                f"{config.routing.baseline_tier!r} on every other failure. Fix: set fallback_tier: "
                f"{config.routing.baseline_tier}, so a failure never serves a cheaper tier than the baseline"
            )
        if set(tiers) != set(config.tiers):
            problems.append(
                f"{where}.tiers: tier names {sorted(tiers)} differ from costroute.tiers {config.tiers}. Fix: the "
                "classifier answers with costroute.tiers names, so use the same names in both places"
            )
        for tier, target in tiers.items():
            for group in [target] if isinstance(target, str) else target:
                if group not in groups:
                    problems.append(
                        f"{where}.tiers.{tier}: model group {group!r} is not in model_list. Fix: add a deployment "
                        f"with model_name {group!r} or point the tier at an existing group"
                    )
    return problems
