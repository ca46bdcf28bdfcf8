"""Per-token prices of a model group, read from LiteLLM's deployments, for budget reservations and replays.

A reservation must be an upper bound of the request's cost before it is sent: the group's dearest deployment
sets it, using the price the config gives the deployment, else LiteLLM's cost map, and costroute's TCO rates
for self-hosted groups (where LiteLLM would say $0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import litellm

from costroute_plugins.spend.pricing import PriceBook, TokenRates

ZERO = TokenRates(input_usd_per_token=0.0, output_usd_per_token=0.0)


def _listed_rates(params: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """A deployment's USD per prompt and completion token: its own prices, else LiteLLM's cost map; None where
    neither has one."""
    input_rate, output_rate = params.get("input_cost_per_token"), params.get("output_cost_per_token")
    if input_rate is None or output_rate is None:
        info: Mapping[str, Any]
        try:
            info = litellm.get_model_info(model=str(params.get("model", "")))
        except Exception:  # not in the cost map
            info = {}
        input_rate = input_rate if input_rate is not None else info.get("input_cost_per_token")
        output_rate = output_rate if output_rate is not None else info.get("output_cost_per_token")
    return (None if input_rate is None else float(input_rate)), (None if output_rate is None else float(output_rate))


def _deployment_rates(params: Mapping[str, Any]) -> TokenRates:
    input_rate, output_rate = _listed_rates(params)  # unpriced: nothing to reserve for it
    return TokenRates(input_usd_per_token=input_rate or 0.0, output_usd_per_token=output_rate or 0.0)


def config_tier_rates(document: Mapping[str, Any], tiers: list[str]) -> dict[str, tuple[float, float]]:
    """USD per prompt / completion token of each tier in a proxy config (the dearest deployment when a tier has
    several), for replays that price answers without a running proxy. An unpriced tier is an error."""
    rates: dict[str, tuple[float, float]] = {}
    for tier in tiers:
        found = []
        for entry in document.get("model_list") or []:
            if entry.get("model_name") != tier:
                continue
            params = entry.get("litellm_params") or {}
            prompt, completion = _listed_rates(params)
            if prompt is None or completion is None:
                raise ValueError(f"tier {tier}: no price for {params.get('model')!r}; set input_cost_per_token and "
                                 "output_cost_per_token in its litellm_params")
            found.append((prompt, completion))
        if not found:
            raise ValueError(f"tier {tier}: no model_list entry named {tier!r} in the config")
        rates[tier] = (max(p for p, _ in found), max(c for _, c in found))
    return rates


def group_rates(groups: list[str], prices: PriceBook) -> TokenRates:
    """The highest input and output rate over every deployment of ``groups``."""
    from litellm.proxy import proxy_server

    router = proxy_server.llm_router
    found = [ZERO]
    for group in groups:
        own = prices.rates(group)
        if own is not None:
            found.append(own)
            continue
        deployments = (router.get_model_list(model_name=group) or []) if router is not None else []
        for deployment in deployments:
            params = deployment.get("litellm_params") or {}
            found.append(prices.rates(str(params.get("model"))) or _deployment_rates(params))
    return TokenRates(
        input_usd_per_token=max(rate.input_usd_per_token for rate in found),
        output_usd_per_token=max(rate.output_usd_per_token for rate in found),
    )
