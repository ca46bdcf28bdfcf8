"""Decide which tiers can reach their provider and which must be served by the local vLLM engine instead.

A fresh machine has no provider keys. Rather than answering errors for ``balanced`` and ``premium``, the
development launcher points those tiers at the self-hosted deployment of the cheapest local tier and says so
plainly at start-up. Production (``litellm --config`` with keys set) never goes through this code.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "os.environ/"
LOCAL_PROVIDERS = ("hosted_vllm/",)


@dataclass(frozen=True)
class Substitution:
    tier: str
    original_model: str
    missing_env: str
    local_model: str


@dataclass(frozen=True)
class LocalPlan:
    document: dict[str, Any]
    substitutions: tuple[Substitution, ...]
    local_params: dict[str, Any] | None

    def describe(self) -> list[str]:
        if not self.substitutions:
            return ["every tier reaches its configured provider"]
        return [
            f"tier {s.tier}: {s.missing_env} is not set -> served locally by {s.local_model} "
            f"instead of {s.original_model}"
            for s in self.substitutions
        ]


def _missing_key_env(params: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    key = params.get("api_key")
    if isinstance(key, str) and key.startswith(ENV_PREFIX):
        name = key.removeprefix(ENV_PREFIX)
        if not env.get(name):
            return name
    return None


def _is_local(params: Mapping[str, Any]) -> bool:
    return str(params.get("model", "")).startswith(LOCAL_PROVIDERS)


def plan_local_serving(document: Mapping[str, Any], tiers: Sequence[str], env: Mapping[str, str]) -> LocalPlan:
    """A copy of the proxy config where tier deployments lacking their provider key use the local engine."""
    planned = copy.deepcopy(dict(document))
    deployments = [d for d in planned.get("model_list") or [] if d.get("model_name") in tiers]
    local = next(
        (d["litellm_params"] for tier in tiers for d in deployments
         if d["model_name"] == tier and _is_local(d.get("litellm_params") or {})),
        None,
    )
    substitutions: list[Substitution] = []
    for deployment in deployments:
        params = deployment.get("litellm_params") or {}
        missing = None if _is_local(params) else _missing_key_env(params, env)
        if missing is None:
            continue
        if local is None:
            raise ValueError(
                f"tier {deployment['model_name']!r} needs {missing}, and no tier has a local hosted_vllm/ "
                "deployment to serve it instead; set the key or add a vLLM tier to model_list"
            )
        substitutions.append(Substitution(deployment["model_name"], str(params.get("model")), missing,
                                          str(local["model"])))
        deployment["litellm_params"] = copy.deepcopy(local)
    return LocalPlan(planned, tuple(substitutions), copy.deepcopy(local) if local else None)


def resolve_env_value(value: Any, env: Mapping[str, str]) -> str | None:
    """``os.environ/NAME`` -> its value (None when unset); plain strings unchanged."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        return env.get(value.removeprefix(ENV_PREFIX)) or None
    return value
