"""The ``costroute:`` section of a LiteLLM proxy config, validated once at load.

Operators keep one file: LiteLLM ignores top-level keys it does not know, so costroute's settings sit beside
``model_list`` and ``litellm_settings`` in the same YAML. Every section forbids unknown keys, and a bad value
fails the proxy start with a message naming the dotted key and how to fix it, instead of a plugin silently
running on defaults the operator did not mean.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from costroute_plugins.budget.config import BudgetsConfig
from costroute_plugins.cache.config import CacheSwitch, SemanticCacheConfig
from costroute_plugins.config_errors import error_lines, redact_tree
from costroute_plugins.embedding_backend import EmbeddingBackend
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.routing.policy import RoutePolicy, policy_problems
from costroute_plugins.routing.router import RouterSettings, TierSpec
from costroute_plugins.spend.config import SpendAttributionConfig
from costroute_plugins.vllm_affinity.config import AffinityConfig

SECTION = "costroute"


_AUTHENTICATED_SOURCES = ("team", "key", "end_user", "org")
_METADATA_SOURCE = re.compile(r"^metadata\.[A-Za-z0-9_\-]{1,64}$")


class CostrouteConfigError(ValueError):
    """A costroute setting is wrong; the message names the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RoutingConfig(RouterSettings, RoutePolicy):
    """How ``model: auto`` picks a tier: the router's settings (classifier, artifact, tier thresholds), how
    its decision is used, and the policy around it (premium tenants, task floors, holdout, feedback). Tier
    thresholds default to the shipped calibration targets for ``costroute.tiers``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    mode: Literal["enforce", "shadow", "off"] = Field(
        "enforce", description="enforce: serve the chosen tier; shadow: log it, serve baseline_tier; off: baseline_tier"
    )
    baseline_tier: str | None = Field(
        None, description="what clients get without costroute: served in shadow and off mode and whenever the router "
                          "cannot load or decide; unset means the top (last) tier"
    )
    allow_degraded_start: bool = Field(
        False, description="start even when the router artifact cannot load (every `auto` request then gets "
                           "baseline_tier); off: such a start is refused with the fix"
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, values: Any) -> Any:
        if isinstance(values, dict) and "default_tier" in values:
            raise ValueError(
                "default_tier was renamed baseline_tier, and failures, shadow and off now serve it instead of the "
                "cheapest tier; it defaults to the top tier (what clients get without costroute). Fix: remove "
                "default_tier, or rename it baseline_tier if you really want failures to serve a cheaper tier"
            )
        return values


class CacheConfig(CacheSwitch, SemanticCacheConfig):
    """The semantic cache: off by default; every other key tunes it (see ``costroute_plugins/cache/config.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_prefix: str = Field("costroute:cache:", description="Redis key prefix of the shared entries")
    snapshot_path: str | None = Field(
        None, description="without Redis: file prefix where entries are saved at shutdown and loaded at start"
    )
    # Not the upstream timeout (120 s): a follower that gives up then calls upstream itself, so its worst case is
    # this wait plus its own call. 20 s covers a whole typical answer (streamed ones too: followers get the answer
    # once the leader's stream ends), while a stuck leader delays its followers by at most this much.
    single_flight_wait_s: float = Field(
        20.0, ge=0, le=300, description="identical requests in flight share one upstream call; the others wait this "
        "long at most for its answer, then call upstream themselves; 0 turns single-flight off"
    )


class CostrouteConfig(_Section):
    """Root of the ``costroute:`` section. Every field has an embedded default, so the section may be absent."""

    tiers: list[str] = Field(
        default_factory=lambda: ["cheap", "balanced", "premium"],
        description="LiteLLM model groups used as tiers, cheapest first",
        min_length=1,
    )
    tenant_from: list[str] = Field(
        default_factory=lambda: ["team", "key"],
        description="identities that name the tenant, first present wins: team, key, end_user, org (authenticated) "
                    "or metadata.<field> (set by a trusted gateway; needs trust_client_metadata)",
        min_length=1,
    )
    trust_client_metadata: bool = Field(
        False, description="allow metadata.<field> in tenant_from: only behind a gateway that sets that field and "
                           "strips it from client requests",
    )
    redis_url: str | None = Field(
        default_factory=lambda: os.environ.get("REDIS_URL") or None,
        description="shared state for all replicas: redis://host:6379/0, redis+cluster://host:port[,host:port]/ "
                    "or redis+sentinel://host:26379[,...]/service/0 (docs/redis.md); unset keeps everything in-process",
    )
    embedding_model: str | None = Field(
        None, description="sentence-transformers folder shared by cache and router; unset: all-MiniLM-L6-v2"
    )
    embedding_backend: EmbeddingBackend = Field(
        "auto", description="auto: ONNX Runtime (the same vectors for less CPU), PyTorch if it cannot run the model; "
                            "onnx: ONNX Runtime or the start fails; torch: PyTorch only"
    )
    embedding_threads: int | None = Field(
        None, ge=0, description="threads per embedding in the proxy (ONNX Runtime's or torch's); unset: 2 on ONNX "
                                "Runtime, 1 on torch (its threads spin); 0: one per core"
    )
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    budget: BudgetsConfig = Field(default_factory=BudgetsConfig)
    spend: SpendAttributionConfig = Field(default_factory=SpendAttributionConfig)
    vllm_affinity: AffinityConfig = Field(default_factory=AffinityConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)

    def redacted(self) -> dict[str, Any]:
        """The effective values as JSON-ready data with passwords and tokens masked: what may be printed."""
        return redact_tree(self.model_dump(mode="json"))

    @field_validator("tenant_from")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        for source in sources:
            if source not in _AUTHENTICATED_SOURCES and not _METADATA_SOURCE.match(source):
                raise ValueError(f"{source!r} is not a tenant source; use {', '.join(_AUTHENTICATED_SOURCES)} or "
                                 "metadata.<field>")
        return sources

    @model_validator(mode="after")
    def _client_metadata_is_trusted_explicitly(self) -> CostrouteConfig:
        claimed = [source for source in self.tenant_from if source.startswith("metadata.")]
        if claimed and not self.trust_client_metadata:
            raise ValueError(
                f"tenant_from: {claimed[0]!r} is client-supplied request metadata, so any caller could pick its "
                "tenant (another tenant's cache entries and budget). Fix: set trust_client_metadata: true only if "
                "a trusted gateway in front of the proxy sets that field, else remove it from tenant_from"
            )
        return self

    @model_validator(mode="after")
    def _tiers_are_consistent(self) -> CostrouteConfig:
        if len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers: each tier may appear once; remove the duplicate names")
        if "tiers" not in self.routing.model_fields_set:
            self.routing.tiers = default_cascade(self.tiers)
        elif [tier.name for tier in self.routing.tiers] != self.tiers:
            raise ValueError(
                f"routing.tiers: names {[t.name for t in self.routing.tiers]} differ from tiers {self.tiers}; "
                "list the same tiers in the same order"
            )
        if self.routing.baseline_tier is None:
            self.routing.baseline_tier = self.tiers[-1]
        elif self.routing.baseline_tier not in self.tiers:
            raise ValueError(
                f"routing.baseline_tier: {self.routing.baseline_tier!r} is not one of tiers {self.tiers}; "
                "set it to one of them or add it to tiers"
            )
        problems = policy_problems(self.routing, self.tiers)
        if problems:
            raise ValueError("; ".join(problems) + ". Fix: use tier names from `tiers`")
        return self


def default_cascade(tiers: list[str]) -> list[TierSpec]:
    """Thresholds from the shipped calibration table: the dearest tier keeps >= 95% of premium quality, a
    middle tier takes requests up to a 70% share of non-cheap traffic."""
    if len(tiers) < 2:
        return [TierSpec(name=tiers[0])]
    if len(tiers) > 3:
        raise ValueError(f"routing.tiers: {len(tiers)} tiers need explicit thresholds; set routing.tiers with "
                         "enter_at for each tier after the first")
    middle = [TierSpec(name=tiers[1], enter_at="share<=0.70")] if len(tiers) == 3 else []
    return [TierSpec(name=tiers[0]), *middle, TierSpec(name=tiers[-1], enter_at="quality>=0.95")]


def section_problems(section: Any) -> tuple[CostrouteConfig | None, list[str]]:
    """The validated ``costroute:`` mapping (``None``, the section absent, gives the embedded defaults), or
    ``None`` and one line per problem naming the dotted key and the fix, for callers that report every
    problem of a file at once."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        return None, [(f"{SECTION}: must be a mapping of settings (got {type(section).__name__}). Fix: write "
                       f"`{SECTION}:` followed by indented keys, or remove it")]
    try:
        return CostrouteConfig.model_validate(section), []
    except ValidationError as error:
        return None, error_lines(error, SECTION, CostrouteConfig)


def parse_config(section: dict[str, Any] | None, source: str = "<dict>") -> CostrouteConfig:
    """Validate a ``costroute:`` mapping; ``None`` (section absent) gives the embedded defaults."""
    config, problems = section_problems(section)
    if config is None:
        raise CostrouteConfigError(f"invalid costroute configuration in {source}:\n  " + "\n  ".join(problems))
    return config


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole proxy config YAML as a mapping, with read and syntax errors turned into config errors."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise CostrouteConfigError(f"cannot read costroute configuration from {path}: {error}") from None
    if not isinstance(document, dict):
        raise CostrouteConfigError(f"{path}: expected a YAML mapping at the top level")
    return document


def load_config(path: str | os.PathLike[str] | None) -> CostrouteConfig:
    """Read the ``costroute:`` section from a proxy config YAML; no path means embedded defaults."""
    if path is None:
        return parse_config(None)
    return parse_config(read_document(path).get(SECTION), source=str(path))
