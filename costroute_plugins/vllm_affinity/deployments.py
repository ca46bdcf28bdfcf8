"""LiteLLM ``model_list`` entries for a pool of vLLM replicas: one deployment per worker, all in one model group,
priced by total cost of ownership so self-hosted traffic never shows as $0 spend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def deployment_entries(group: str, served_name: str, api_bases: Sequence[str], input_cost_per_token: float,
                       output_cost_per_token: float, api_key: str = "os.environ/COSTROUTE_VLLM_API_KEY",
                       ) -> list[dict[str, Any]]:
    """One ``hosted_vllm/`` deployment per replica address; ``costroute price-gpu`` gives the two rates."""
    if not api_bases:
        raise ValueError("a vLLM model group needs at least one replica api_base")
    return [
        {"model_name": group,
         "litellm_params": {"model": f"hosted_vllm/{served_name}", "api_base": base, "api_key": api_key,
                            "input_cost_per_token": input_cost_per_token,
                            "output_cost_per_token": output_cost_per_token},
         "model_info": {"id": f"{group}-replica-{index}"}}
        for index, base in enumerate(api_bases)
    ]
