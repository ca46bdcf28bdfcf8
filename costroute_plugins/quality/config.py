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


class LoopConfig(BaseModel):
    """The ``costroute.quality.loop`` section: the closed loop that keeps routed traffic at ``quality.target``.

    The controller moves the router's tier thresholds by a *shift*: the share of traffic moved up one tier at
    every boundary, measured on the scores this replica has seen (``routing/shift.py``). It starts at 0, the
    offline calibration; tightens as soon as the audits' estimate is below the target, by as much as the
    evidence says is needed; loosens only when the estimate's lower bound is ``margin`` above the target, one
    ``step`` at a time. Off by default: with it off, thresholds are the calibrated ones, as before.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="move the router's thresholds to keep quality.target (needs "
                                             "quality.enabled: the audits are its evidence)")
    min_audits: int = Field(12, description="judged audits since the last change before the next decision")
    step: float = Field(0.05, description="share of traffic moved up or down per loosening, and the smallest "
                                          "tightening")
    max_step: float = Field(0.3, description="the most one tightening moves (the evidence may ask for more)")
    margin: float = Field(0.02, description="loosen only when the estimate's lower bound is this far above target")
    max_shift: float = Field(1.0, description="how far up the loop may move traffic (1: everything to the top)")
    max_loosen: float = Field(0.2, description="how far below the offline calibration the loop may loosen")
    wrong_hit_target: float = Field(
        0.02, description="cache: the wrong-hit rate to stay under; the cache's similarity threshold is raised "
                          "when audits show more, lowered back only when the upper bound is under half of it")
    similarity_step: float = Field(
        0.02, description="cache: how much one tightening raises the similarity threshold (half of it to lower)")
    refresh_s: float = Field(1.0, gt=0, description="how often a replica re-reads the shared loop state")

    @field_validator("step", "max_step", "margin", "max_shift", "max_loosen", "wrong_hit_target", "similarity_step")
    @classmethod
    def _loop_share(cls, value: float, info: ValidationInfo) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{value!r} is not a share; use a number from 0 to 1 for {info.field_name}, "
                             "e.g. 0.05")
        return value

    @field_validator("min_audits")
    @classmethod
    def _loop_audits(cls, value: int) -> int:
        if value < 2:
            raise ValueError(f"{value!r}: the loop needs at least 2 judged audits per decision; use e.g. 12")
        return value

    @model_validator(mode="after")
    def _steps_fit(self) -> LoopConfig:
        if self.enabled and (self.step == 0 or self.max_step < self.step):
            raise ValueError(f"step {self.step!r} and max_step {self.max_step!r}: the loop could never move. "
                             "Fix: step above 0 and max_step >= step (e.g. 0.05 and 0.3)")
        return self


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
    records_path: str | None = Field(
        None, description="append each finished audit as a JSON line here (texts only when they pass the cache's "
                          "PII admission check): what `costroute learn` retrains the router from")
    loop: LoopConfig = Field(default_factory=LoopConfig)

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
            if self.loop.enabled:
                raise ValueError("loop.enabled is true but enabled is false: the loop's evidence is the audits. "
                                 "Fix: set enabled: true (and a routed_sample_rate), or loop.enabled: false")
            return self
        if self.max_usd_per_day == 0 or self.max_share_of_savings == 0:
            raise ValueError(
                "enabled is true but max_usd_per_day or max_share_of_savings is 0, so no audit could ever start. "
                "Fix: raise both above 0 (e.g. 5.0 and 0.1), or set enabled: false")
        if self.loop.enabled and self.routed_sample_rate == 0:
            raise ValueError(
                "loop.enabled is true but routed_sample_rate is 0, so the loop never gets evidence. "
                "Fix: set routed_sample_rate above 0 (e.g. 0.1), or set loop.enabled: false")
        if self.routed_sample_rate == 0 and self.cache_sample_rate == 0:
            raise ValueError(
                "enabled is true but routed_sample_rate and cache_sample_rate are both 0, so nothing is audited. "
                "Fix: set one above 0 (e.g. routed_sample_rate: 0.02), or set enabled: false")
        return self
