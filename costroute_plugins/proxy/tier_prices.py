"""Per-token prices of a model group, read from LiteLLM's deployments, for budget reservations.

A reservation must be an upper bound of the request's cost before it is sent: the group's dearest deployment
sets it, using the price the config gives the deployment, else LiteLLM's cost map, and costroute's TCO rates
for self-hosted groups (where LiteLLM would say $0).
"""

from __future__ import annotations

import litellm

from costroute_plugins.spend.pricing import PriceBook, TokenRates

ZERO = TokenRates(input_usd_per_token=0.0, output_usd_per_token=0.0)


def _deployment_rates(params: dict) -> TokenRates:
    input_rate, output_rate = params.get("input_cost_per_token"), params.get("output_cost_per_token")
    if input_rate is None or output_rate is None:
        try:
            info = litellm.get_model_info(model=str(params.get("model", "")))
        except Exception:  # not in the cost map: nothing to reserve for it
            info = {}
        input_rate = input_rate if input_rate is not None else info.get("input_cost_per_token") or 0.0
        output_rate = output_rate if output_rate is not None else info.get("output_cost_per_token") or 0.0
    return TokenRates(input_usd_per_token=float(input_rate), output_usd_per_token=float(output_rate))


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
