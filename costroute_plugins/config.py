"""The ``costroute:`` section of a LiteLLM proxy config, validated once at load.

Operators keep one file: LiteLLM ignores top-level keys it does not know, so costroute's settings sit beside
``model_list`` and ``litellm_settings`` in the same YAML. Every section forbids unknown keys, and a bad value
fails the proxy start with a message naming the dotted key and how to fix it, instead of a plugin silently
running on defaults the operator did not mean.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SECTION = "costroute"


class CostrouteConfigError(ValueError):
    """A costroute setting is wrong; the message names the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RoutingConfig(_Section):
    """How ``model: auto`` picks a tier. Filled out by the router (issue: small-model-sufficient router)."""

    mode: Literal["enforce", "shadow", "off"] = Field(
        "enforce", description="enforce: serve the chosen tier; shadow: log it, serve default_tier; off: default_tier"
    )
    default_tier: str | None = Field(
        None, description="tier served when the router is off, unsure or failing; unset means the cheapest tier"
    )


class CacheConfig(_Section):
    """The semantic cache; off until its plugin lands, so the proxy reports every request as a cache bypass."""

    enabled: bool = False


class BudgetConfig(_Section):
    """Per-tenant budgets; with none configured every tenant is unlimited."""

    enabled: bool = True


class SpendConfig(_Section):
    """Spend attribution: what is written to LiteLLM's spend-log metadata and to Prometheus."""

    tenant_metadata_key: str = Field(
        "tenant", description="spend_logs_metadata key that carries the tenant the request is billed to"
    )


class AffinityConfig(_Section):
    """Prefix-affinity routing across vLLM replicas of one model group."""

    model_groups: list[str] = Field(default_factory=list, description="model groups whose replicas share prefixes")


class CostrouteConfig(_Section):
    """Root of the ``costroute:`` section. Every field has an embedded default, so the section may be absent."""

    tiers: list[str] = Field(
        default_factory=lambda: ["cheap", "balanced", "premium"],
        description="LiteLLM model groups used as tiers, cheapest first",
        min_length=1,
    )
    tenant_from: list[Literal["team", "key", "end_user", "org"]] = Field(
        default_factory=lambda: ["team", "key"],
        description="authenticated identities that name the tenant, first present wins",
        min_length=1,
    )
    redis_url: str | None = Field(
        default_factory=lambda: os.environ.get("REDIS_URL") or None,
        description="shared state for all replicas; unset keeps everything in-process",
    )
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    spend: SpendConfig = Field(default_factory=SpendConfig)
    vllm_affinity: AffinityConfig = Field(default_factory=AffinityConfig)

    @model_validator(mode="after")
    def _tiers_are_consistent(self) -> CostrouteConfig:
        if len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers: each tier may appear once; remove the duplicate names")
        if self.routing.default_tier is None:
            self.routing.default_tier = self.tiers[0]
        elif self.routing.default_tier not in self.tiers:
            raise ValueError(
                f"routing.default_tier: {self.routing.default_tier!r} is not one of tiers {self.tiers}; "
                "set it to one of them or add it to tiers"
            )
        return self


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the nested section at ``loc``, to suggest a fix for an unknown key."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def format_validation_error(error: ValidationError, source: str) -> str:
    """One line per problem: ``costroute.<dotted key>: <what is wrong>. Fix: <what to do>``."""
    lines = [f"invalid costroute configuration in {source}:"]
    for problem in error.errors():
        loc = tuple(problem["loc"])
        key = ".".join([SECTION, *(str(part) for part in loc)])
        if problem["type"] == "extra_forbidden":
            valid = _fields_at(CostrouteConfig, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            lines.append(f"  {key}: unknown key. Fix: {hint}valid keys here are {', '.join(valid)}")
        elif problem["type"] == "value_error":
            lines.append(f"  {SECTION}: {problem['msg'].removeprefix('Value error, ')}")
        else:
            got = problem.get("input")
            lines.append(f"  {key}: {problem['msg']} (got {got!r}). Fix: change the value of {key}")
    return "\n".join(lines)


def parse_config(section: dict[str, Any] | None, source: str = "<dict>") -> CostrouteConfig:
    """Validate a ``costroute:`` mapping; ``None`` (section absent) gives the embedded defaults."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise CostrouteConfigError(
            f"invalid costroute configuration in {source}:\n  {SECTION}: must be a mapping of settings "
            f"(got {type(section).__name__}). Fix: write `{SECTION}:` followed by indented keys, or remove it"
        )
    try:
        return CostrouteConfig.model_validate(section)
    except ValidationError as error:
        raise CostrouteConfigError(format_validation_error(error, source)) from None


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
