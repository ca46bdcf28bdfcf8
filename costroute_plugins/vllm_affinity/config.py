"""``costroute.vllm_affinity``: which vLLM model groups get prefix-affinity routing, and how.

Validated at load with the rest of the ``costroute:`` section; the model-group names are checked against the
proxy's ``model_list`` by ``affinity_problems`` when the proxy starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AffinityConfig(BaseModel):
    """Prefix-affinity routing across vLLM replicas of one model group."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model_groups: list[str] = Field(
        default_factory=list, description="model groups whose deployments are replicas of one vLLM model; "
        "each request goes to the replica most likely to hold its prompt prefix. Empty: off")
    policy: Literal["affinity", "round-robin"] = Field(
        "affinity", description="round-robin ignores prefixes: the baseline to compare hit rates against")
    block_size: int = Field(128, ge=1, le=4096, description="the workers' KV block size in tokens "
                            "(vLLM: 128 on CPU, 16 by default on GPU, --block-size)")
    tokenizer: str | None = Field(None, description="the served model's folder or tokenizer.json, so blocks "
                                  "match the worker's; unset: chars_per_token characters count as one token")
    chars_per_token: int = Field(4, ge=1, le=16, description="the approximation used without a tokenizer")
    key_blocks: int = Field(1, ge=1, description="leading blocks that place a new prefix on the hash ring")
    load_factor: float = Field(1.25, ge=1.0, le=10.0, description="bounded load: no replica takes more than "
                               "this times the mean load; 1.0 balances perfectly and ignores prefixes")
    load_slack: int = Field(4, ge=0, le=1000, description="a replica within this many requests of the least "
                            "loaded one always counts as within the bound, so low load never moves a prefix")
    poll_interval_s: float = Field(1.0, gt=0, le=60, description="how often each worker's /metrics is read")
    metrics_timeout_s: float = Field(1.0, gt=0, le=30, description="a /metrics read slower than this fails")
    staleness_s: float = Field(5.0, gt=0, description="load figures older than this are ignored (the replica "
                               "still serves; its load is then what this proxy has in flight there)")
    metrics_path: str = Field("/metrics", description="path of the worker's Prometheus endpoint, after the "
                              "api_base with its /v1 removed")
    cache_full_at: float = Field(0.95, gt=0, le=1.0, description="KV-cache usage at which a replica takes no new "
                                 "prefix while another has room")

    @model_validator(mode="after")
    def _consistent(self) -> AffinityConfig:
        if len(set(self.model_groups)) != len(self.model_groups):
            raise ValueError("model_groups: a group is listed twice; list each once")
        if self.staleness_s < 2 * self.poll_interval_s:
            raise ValueError(f"staleness_s ({self.staleness_s}) must be at least twice poll_interval_s "
                             f"({self.poll_interval_s}), or every replica turns stale between two polls. "
                             "Fix: raise staleness_s or lower poll_interval_s")
        if self.metrics_timeout_s > self.poll_interval_s:
            raise ValueError(f"metrics_timeout_s ({self.metrics_timeout_s}) exceeds poll_interval_s "
                             f"({self.poll_interval_s}). Fix: lower metrics_timeout_s")
        if self.tokenizer is not None:
            path = Path(self.tokenizer)
            if not (path / "tokenizer.json").exists() and not (path.is_file() and path.name.endswith(".json")):
                raise ValueError(f"tokenizer: {self.tokenizer!r} has no tokenizer.json. Fix: point it at the "
                                 "served model's folder (the one given to vLLM's --model), or remove the key to "
                                 "use the character approximation")
        if not self.metrics_path.startswith("/"):
            raise ValueError(f"metrics_path: {self.metrics_path!r} must start with '/', e.g. /metrics")
        return self


def affinity_problems(document: Mapping[str, Any], config: AffinityConfig) -> list[str]:
    """Model groups named for affinity that the proxy's ``model_list`` cannot serve as vLLM replicas."""
    deployments: dict[str, list[Mapping[str, Any]]] = {}
    for entry in document.get("model_list") or []:
        if isinstance(entry, Mapping):
            deployments.setdefault(str(entry.get("model_name")), []).append(entry.get("litellm_params") or {})
    problems = []
    for group in config.model_groups:
        params = deployments.get(group)
        if not params:
            problems.append(f"costroute.vllm_affinity.model_groups: {group!r} is not a model_name in model_list. "
                            f"Fix: use one of {sorted(deployments)} or add its vLLM deployments")
            continue
        missing = [p.get("model") for p in params if not p.get("api_base")]
        if missing:
            problems.append(f"costroute.vllm_affinity.model_groups: {group!r} has deployments without api_base "
                            f"({missing}). Fix: give each vLLM replica its api_base (http://host:port/v1)")
    return problems
