"""Settings of the quality audits (the ``costroute.quality`` section), validated once at load.

Audits spend money to measure what routing and the cache cost in quality, so every knob that decides how much
is sampled, how much may be spent and when an alert fires is checked here, and a wrong value stops the start
with a message naming the key and the fix rather than silently auditing nothing (or too much).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationInfo, field_validator, model_validator

JudgeMethod = Literal["single", "pairwise"]

_MODEL_GROUP = re.compile(r"^\S+$")


class QualityConfig(BaseModel):
    """The ``costroute.quality`` section: off by default, since every audit is paid for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="audit a sample of answers after the client has them")
    judge: str = Field(
        "premium", description="LiteLLM model group that grades answers (called through LiteLLM's router, so it is "
                               "priced, logged and budgeted like any call)")
    routed_sample_rate: float = Field(
        0.02, description="share of requests served below the top tier whose top-tier answer is fetched and graded")
    cache_sample_rate: float = Field(
        0.05, description="share of semantic (non-exact) cache hits whose fresh answer is fetched and graded")
    sample_salt: str = Field(
        "costroute-audit", min_length=1,
        description="changes which request ids are sampled; keep it different from routing.holdout_salt so the "
                    "audited requests are independent of the held-out ones")
    max_usd_per_day: float = Field(5.0, description="audit spend (reference answers and judge calls) per day, USD")
    max_share_of_savings: float = Field(
        0.1, description="audit spend per day as a share of that day's savings before audits")
    method: JudgeMethod = Field(
        "single", description="single: each answer graded 1-10 on its own; pairwise: served vs reference, both "
                              "orders (see quality/judge.py)")
    max_prompt_chars: int = Field(16_000, description="requests with a longer prompt are never audited")
    target: float = Field(
        0.95, description="share of the top tier's quality to keep (the routing quality target): estimates are "
                          "compared with it in costroute_quality_standing")
    alert_drop: float = Field(
        0.05, description="how far below the quality target an estimate's bound must fall before it alerts")
    min_audits: int = Field(20, description="judged audits a key needs before its estimate is reported")
    max_tenants: int = Field(
        50, description="tenants with their own estimate; the rest share one 'other' estimate (bounded memory and "
                        "metric labels)")
    key_prefix: str = Field("costroute:quality:", min_length=1, description="Redis key prefix of the shared state")
    webhook_url: HttpUrl | None = Field(
        None, description="POST a JSON alert here (Slack-compatible `text`) when a tier, tenant or the cache falls "
                          "below target - alert_drop; failures are logged")
    webhook_timeout_s: float = Field(3.0, gt=0, description="how long one alert POST may take")

    @field_validator("routed_sample_rate", "cache_sample_rate", "max_share_of_savings", "target")
    @classmethod
    def _share(cls, value: float, info: ValidationInfo) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{value!r} is not a share; use a number from 0 to 1 (e.g. 0.02 for 2 in 100), or 0 "
                             f"to turn {info.field_name} off")
        return value

    @field_validator("max_usd_per_day")
    @classmethod
    def _usd(cls, value: float) -> float:
        if not 0.0 <= value < float("inf"):
            raise ValueError(f"{value!r} is not an amount; use a finite number of USD >= 0, e.g. 5.0")
        return value

    @field_validator("alert_drop")
    @classmethod
    def _drop(cls, value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{value!r} is not a drop in quality; use a share from 0 (alert as soon as the target "
                             "is missed) to below 1, e.g. 0.05 for 5 points")
        return value

    @field_validator("max_prompt_chars")
    @classmethod
    def _chars(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value!r} characters would skip every audit; use a positive number, e.g. 16000")
        return value

    @field_validator("min_audits")
    @classmethod
    def _audits(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"{value!r}: a confidence interval needs at least 2 audits; use 2 or more, e.g. 20")
        return value

    @field_validator("max_tenants")
    @classmethod
    def _tenants(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value!r} is negative; use 0 (one estimate for all tenants) or more, e.g. 50")
        return value

    @field_validator("judge")
    @classmethod
    def _model_group(cls, value: str) -> str:
        if not _MODEL_GROUP.match(value):
            raise ValueError(f"{value!r} is not a model group name; use the model_name of a model_list entry, "
                             "e.g. premium")
        return value

    @model_validator(mode="after")
    def _can_audit_when_enabled(self) -> QualityConfig:
        if not self.enabled:
            return self
        if self.max_usd_per_day == 0 or self.max_share_of_savings == 0:
            raise ValueError(
                "enabled is true but max_usd_per_day or max_share_of_savings is 0, so no audit could ever start. "
                "Fix: raise both above 0 (e.g. 5.0 and 0.1), or set enabled: false")
        if self.routed_sample_rate == 0 and self.cache_sample_rate == 0:
            raise ValueError(
                "enabled is true but routed_sample_rate and cache_sample_rate are both 0, so nothing is audited. "
                "Fix: set one above 0 (e.g. routed_sample_rate: 0.02), or set enabled: false")
        return self
