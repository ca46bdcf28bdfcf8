"""Settings of the semantic cache, validated once, with errors that name the key and the fix.

The defaults are the precision-first operating point the evaluation figures describe: an operator who only
sets ``mode: on`` (or ``enabled: true``) gets a cache that prefers a miss to a wrong answer.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from costroute_plugins.cache.admission import DEFAULT_TTL_RULES, AdmissionPolicy
from costroute_plugins.cache.scope import ANSWER_PARAMS, CONVERSATION_PARAMS, DEFAULT_MAX_PROMPT_CHARS
from costroute_plugins.cache.verifier import RULES
from costroute_plugins.config_errors import describe_errors


class SemanticCacheConfigError(ValueError):
    """A cache setting is wrong; one line per problem, each naming the key and how to fix it."""


CacheMode = Literal["on", "shadow", "off"]
_BOOL = TypeAdapter(bool)


class CacheSwitch(BaseModel):
    """Whether the cache serves: ``mode``, or the older ``enabled`` it replaces (``true`` is ``on``).

    ``shadow`` exists so an operator can measure a cache before trusting it: every lookup runs as in ``on`` and
    its would-be outcome is counted, yet every request goes upstream and the client gets what it gets without the
    cache. After validation both keys are set and agree (``enabled`` is ``mode != off``), so code asking whether
    the cache runs reads ``enabled`` and code asking whether it may serve reads ``mode``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: CacheMode = Field(
        "off", description="on: serve hits; shadow: look up, count would-be hits and store as `on` would, but send "
                           "every request upstream (the client gets the uncached answer); off: no cache"
    )
    enabled: bool = Field(False, description="the older switch: true is mode on, false mode off; leave it out "
                                             "when mode is set")

    @model_validator(mode="before")
    @classmethod
    def _one_switch(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        mode, enabled = values.get("mode"), values.get("enabled")
        if isinstance(mode, bool):  # YAML 1.1 (LiteLLM's and ours) reads an unquoted on/off as true/false
            mode = "on" if mode else "off"
        try:
            enabled = None if enabled is None else _BOOL.validate_python(enabled)
        except ValidationError:
            return values  # not a boolean: the field's own check names it
        if mode is None:
            mode = "on" if enabled else "off"
        elif mode not in ("on", "shadow", "off"):
            return {**values, "mode": mode}  # the field's own check names the value and the choices
        elif enabled is not None and enabled != (mode != "off"):
            raise ValueError(
                f"mode, enabled: mode {mode!r} and enabled {str(enabled).lower()} disagree. Fix: remove enabled "
                "(mode replaces it: on serves hits, shadow only measures them, off turns the cache off)")
        return {**values, "mode": mode, "enabled": mode != "off"}


class TtlRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="case-insensitive regex searched in the request's own question (quoted "
                                     "passages, code, few-shot examples and answer options left out)")
    ttl_s: float = Field(ge=0, description="seconds to keep a matching prompt's answer; 0 never stores it")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression ({error}); escape special characters") from None
        return pattern


class SemanticCacheConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    similarity_threshold: float = Field(
        0.85, ge=0.5, le=1.0, description="lowest cosine similarity a semantic candidate may have"
    )
    top_k: int = Field(4, ge=1, le=64, description="candidates taken from the index before verification")
    exact_match: bool = Field(True, description="serve normalised-identical prompts without embedding search")
    verify_exact: bool = Field(
        False, description="also run the verifier on exact matches (they differ only in case/punctuation)"
    )
    verifier_rules: tuple[str, ...] = Field(tuple(RULES), description="rule verifier checks to run")
    verifier_artifact: str | None = Field(
        None, description="path of a learned verifier JSON artifact; unset uses the shipped one"
    )
    learned_verifier: bool = Field(True, description="run the learned verifier after the rules")
    ivf_at: int = Field(50_000, ge=1000, description="entries above which the flat index is rebuilt as IVF")
    nprobe: int = Field(16, ge=1, le=4096, description="IVF lists probed per lookup (recall vs latency)")
    max_entries: int = Field(100_000, ge=1, description="entries kept before least-recently-used eviction")
    default_ttl_s: float | None = Field(86400.0, gt=0, description="entry lifetime; null keeps entries forever")
    ttl_rules: tuple[TtlRule, ...] = Field(
        tuple(TtlRule(pattern=p, ttl_s=t) for p, t in DEFAULT_TTL_RULES),
        description="per-pattern TTLs for time-sensitive prompts; the shortest matching one applies",
    )
    pii_patterns: dict[str, str] = Field(
        default_factory=dict, description="extra name -> regex of data never to store"
    )
    cache_errors: bool = False
    cache_truncated: bool = False
    cache_tool_calls: bool = False
    cache_sampled: bool = Field(False, description="cache requests with an explicit temperature > 0")
    key_params: tuple[str, ...] = Field(
        (), description="request parameters, beyond the built-in ones, whose values join the cache key (a request "
        "with a parameter that is neither known nor listed here or in ignored_params is not cached)"
    )
    ignored_params: tuple[str, ...] = Field(
        (), description="request parameters, beyond the built-in ones, that never change the answer: left out of "
        "the cache key"
    )
    max_prompt_chars: int = Field(
        DEFAULT_MAX_PROMPT_CHARS, ge=1, description="prompts (the last user message) longer than this bypass the "
        "cache instead of being hashed, tokenised and stored"
    )

    @field_validator("verifier_rules")
    @classmethod
    def _known_rules(cls, rules: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(rules) - set(RULES))
        if unknown:
            raise ValueError(f"unknown rules {unknown}; use a subset of {sorted(RULES)}")
        return rules

    @field_validator("ignored_params")
    @classmethod
    def _answer_params_stay_keyed(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        changing = sorted(set(names) & (ANSWER_PARAMS | {"temperature"} | set().union(*CONVERSATION_PARAMS.values())))
        if changing:
            raise ValueError(f"{changing} change the answer and always join the key; remove them from ignored_params")
        return names

    @model_validator(mode="after")
    def _params_listed_once(self) -> SemanticCacheConfig:
        both = sorted(set(self.key_params) & set(self.ignored_params))
        if both:
            raise ValueError(f"key_params, ignored_params: both list {both}; keep each name in one of them")
        return self

    @field_validator("pii_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern {name!r} is not a valid regular expression ({error})") from None
        return patterns

    @model_validator(mode="after")
    def _index_fits(self) -> SemanticCacheConfig:
        if self.max_entries > 10_000_000:
            raise ValueError("max_entries: more than 10,000,000 entries will not fit in memory; lower max_entries")
        return self

    def admission_policy(self) -> AdmissionPolicy:
        """What may be stored and for how long under these settings: the one policy the cache, the admission
        report and replays all judge by."""
        return AdmissionPolicy(
            default_ttl_s=self.default_ttl_s,
            ttl_rules=[(rule.pattern, rule.ttl_s) for rule in self.ttl_rules],
            extra_secret_patterns=self.pii_patterns,
            cache_errors=self.cache_errors,
            cache_truncated=self.cache_truncated,
            cache_tool_calls=self.cache_tool_calls,
        )

    @classmethod
    def parse(cls, values: dict[str, Any] | None, *, prefix: str = "cache") -> SemanticCacheConfig:
        """Validates a mapping; raises ``SemanticCacheConfigError`` with ``<prefix>.<key>: ... Fix: ...`` lines."""
        try:
            return cls.model_validate(values or {})
        except ValidationError as error:
            raise SemanticCacheConfigError(
                describe_errors(error, "invalid semantic cache configuration:", prefix, cls)
            ) from None
