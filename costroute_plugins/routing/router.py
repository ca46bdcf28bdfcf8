"""``Router.decide``: the one call the proxy makes, turning a classifier score into a tier through a cascade.

Tiers are listed cheapest first; each tier after the first has an ``enter_at`` threshold on the score, either a
number or a calibration-table key of the artifact (``quality>=0.95``, ``share<=0.30``), so operators state a
business target and the threshold that meets it on validation data is looked up, not hand-tuned. The request
goes to the most expensive tier whose threshold its score reaches. Thresholds must not fall as tier cost
rises: a cascade where a dearer tier is easier to enter than a cheaper one is a configuration mistake (equal
thresholds are allowed; the cheaper of the two tiers then simply receives nothing).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from costroute_plugins.messages import Message
from costroute_plugins.routing.artifact import RouterArtifact, load_artifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.blend import BlendedClassifier, SecondOpinions, artifact_classifier
from costroute_plugins.routing.calibration import parse_target
from costroute_plugins.routing.chitchat import ChitChatFloor, is_chit_chat
from costroute_plugins.routing.logistic import LogisticClassifier
from costroute_plugins.routing.rules import RulesClassifier


class TierSpec(BaseModel):
    """One rung of the cascade: a LiteLLM model group, its price, and the score that lets a request in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="tier / LiteLLM model group name")
    cost_per_mtok: float = Field(0.0, ge=0.0, description="blended USD per million tokens, for reports")
    enter_at: float | str | None = Field(
        None, description="score threshold, or a calibration key like 'quality>=0.95'; None only on the first tier"
    )

    @model_validator(mode="after")
    def _target_parses(self) -> TierSpec:
        if isinstance(self.enter_at, str):
            parse_target(self.enter_at)
        return self


def _default_tiers() -> list[TierSpec]:
    return [
        TierSpec(name="cheap", cost_per_mtok=0.24),
        TierSpec(name="balanced", cost_per_mtok=1.0, enter_at="share<=0.70"),
        TierSpec(name="premium", cost_per_mtok=10.0, enter_at="quality>=0.95"),
    ]


class RouterSettings(BaseModel):
    """Router configuration; every field has a default so ``RouterSettings()`` routes with the shipped model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classifier: Literal["logistic", "rules"] = Field("logistic", description="which TierClassifier scores")
    artifact: str | None = Field(None, description="artifact JSON path; None is the shipped default")
    tiers: list[TierSpec] = Field(default_factory=_default_tiers, min_length=2, description="cheapest first")
    chit_chat_rule: bool = Field(True, description="greetings, thanks and farewells go to the cheapest tier")
    registry: str | None = Field(
        None, description="folder of artifacts published by `costroute learn`: replicas serve its live version "
                          "(and score its shadow candidate) and follow changes without a restart")
    registry_poll_s: float = Field(10.0, gt=0, description="how often a replica checks the registry's pointer")

    @model_validator(mode="after")
    def _tiers_are_a_cascade(self) -> RouterSettings:
        names = [tier.name for tier in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tiers: each name may appear once, got {names}")
        if self.tiers[0].enter_at is not None:
            raise ValueError(f"tiers[0] ({names[0]}): the cheapest tier takes everything else; remove enter_at")
        missing = [tier.name for tier in self.tiers[1:] if tier.enter_at is None]
        if missing:
            raise ValueError(f"tiers {missing}: every tier after the first needs enter_at")
        costs = [tier.cost_per_mtok for tier in self.tiers]
        if costs != sorted(costs):
            raise ValueError(f"tiers must be listed cheapest first; costs per Mtok are {costs}")
        return self


@dataclass(frozen=True)
class Decision:
    """The chosen tier, the score that chose it, the threshold it was compared with, and why, for logs."""

    tier: str
    score: float
    threshold: float | None
    reason: str


class RouterConfigError(ValueError):
    """The settings name a calibration target the artifact lacks, or thresholds that do not rise."""


def _resolve(tier: TierSpec, artifact: RouterArtifact | None) -> tuple[float, str]:
    if isinstance(tier.enter_at, (int, float)):
        return float(tier.enter_at), f"{tier.enter_at:g}"
    if tier.enter_at is None:  # RouterSettings refuses this already
        raise RouterConfigError(f"tier {tier.name}: every tier after the first needs enter_at")
    if artifact is None:
        raise RouterConfigError(f"tier {tier.name}: enter_at {tier.enter_at!r} needs an artifact calibration "
                                "table; the rules classifier takes numeric thresholds")
    entry = artifact.calibration_entry(tier.enter_at)
    if entry is None:
        known = ", ".join(e.target for e in artifact.calibration)
        raise RouterConfigError(f"tier {tier.name}: the artifact has no calibration for {tier.enter_at!r} "
                                f"(it has: {known}); add one with `costroute calibrate`")
    return entry.threshold, tier.enter_at


class Router:
    """Scores a request once and walks the cascade from the dearest tier down."""

    def __init__(self, classifier: TierClassifier, tiers: Sequence[TierSpec],
                 artifact: RouterArtifact | None = None) -> None:
        self.classifier = classifier
        self.tiers = list(tiers)
        resolved = [_resolve(tier, artifact) for tier in self.tiers[1:]]
        quality = [(parse_target(e.target)[1], e.threshold) for e in (artifact.calibration if artifact else ())
                   if e.target.startswith("quality>=")]
        self._quality_thresholds = sorted(quality)
        self.thresholds = [threshold for threshold, _ in resolved]
        self._labels = [label for _, label in resolved]
        if any(later < earlier for earlier, later in zip(self.thresholds, self.thresholds[1:])):
            raise RouterConfigError(
                "tier thresholds must not fall as cost rises; resolved "
                + ", ".join(f"{t.name}={v:.4f}" for t, v in zip(self.tiers[1:], self.thresholds))
            )

    @classmethod
    def from_settings(cls, settings: RouterSettings | None = None, opinions: SecondOpinions | None = None) -> Router:
        """Load the artifact (raises ``ArtifactError`` when it is missing or bad, or blends a second opinion not
        in ``opinions``) and resolve the thresholds."""
        settings = settings or RouterSettings()
        floor = ChitChatFloor if settings.chit_chat_rule else (lambda classifier: classifier)
        if settings.classifier == "rules":
            return cls(floor(RulesClassifier()), settings.tiers)
        return cls.with_artifact(settings, load_artifact(settings.artifact), opinions)

    @classmethod
    def with_artifact(cls, settings: RouterSettings, artifact: RouterArtifact,
                      opinions: SecondOpinions | None = None) -> Router:
        """The logistic router on an artifact already loaded (a version published to the registry), blended with
        the second opinion the artifact names (``routing/blend.py``), which ``opinions`` must provide."""
        classifier = artifact_classifier(artifact, opinions)
        return cls(ChitChatFloor(classifier) if settings.chit_chat_rule else classifier, settings.tiers, artifact)

    @property
    def uses_embedding(self) -> bool:
        """Whether scores depend on the request's embedding: when not, the proxy need not compute one to route."""
        return self._logistic is not None

    @property
    def _logistic(self) -> LogisticClassifier | None:
        """The trained model inside the served classifier (under the chit-chat floor, blended or not), if any."""
        inner = self.classifier.inner if isinstance(self.classifier, ChitChatFloor) else self.classifier
        inner = inner.base if isinstance(inner, BlendedClassifier) else inner
        return inner if isinstance(inner, LogisticClassifier) else None

    def quality_threshold(self, required_quality: float) -> float:
        """The highest premium threshold whose calibration keeps ``required_quality`` of premium quality.

        Without a calibration entry that reaches the target (or without a table at all, as with the rules
        classifier) nothing proves a cheaper tier meets it, so the answer is 0: every request goes to the top.
        """
        meeting = [threshold for quality, threshold in self._quality_thresholds if quality >= required_quality - 1e-9]
        return max(meeting) if meeting else 0.0

    def decide(self, request: RequestView | Sequence[Message], embedding: np.ndarray | None = None,
               relaxation: float = 0.0, required_quality: float | None = None,
               base_thresholds: Sequence[float] | None = None) -> Decision:
        """Pick a tier for ``request`` (a ``RequestView`` or a messages list plus an optional embedding).

        ``base_thresholds`` replace the calibrated ones (the quality loop's shifted thresholds, ``shift.py``);
        the adjustments below apply to them the same way.

        ``relaxation`` in [0, 1] moves every threshold that share of the way towards 1, so fewer requests reach
        dearer tiers: budget pressure uses it to trade quality for cost as a cap nears. ``required_quality`` (a
        caller's hint) then caps every threshold at ``quality_threshold``: stricter, never looser.
        """
        view = request if isinstance(request, RequestView) else RequestView(request, embedding)
        score = self.classifier.premium_need(view)
        base = self.thresholds if base_thresholds is None else list(base_thresholds)
        if len(base) != len(self.thresholds):
            raise ValueError(f"{len(base)} base thresholds given for {len(self.thresholds)} tier boundaries")
        thresholds = [t + relaxation * (1.0 - t) for t in base]
        note = " [no embedding: text and structure only]" if view.embedding is None and self.uses_embedding else ""
        if score == 0.0 and isinstance(self.classifier, ChitChatFloor) and is_chit_chat(view.text):
            note += " [chit-chat rule: a greeting, thanks or farewell]"
        if required_quality is not None:
            cap = self.quality_threshold(required_quality)
            thresholds = [min(t, cap) for t in thresholds]
            note += f" [required_quality {required_quality:g}: thresholds <= {cap:.3f}]"
        name = self.classifier.name
        for index in range(len(thresholds) - 1, -1, -1):
            threshold = thresholds[index]
            if score >= threshold:
                tier = self.tiers[index + 1].name
                reason = f"{tier}: {name} score {score:.3f} >= {tier} threshold {threshold:.3f}"
                return Decision(tier, score, threshold, f"{reason} ({self._labels[index]}){note}")
        cheapest, first = self.tiers[0].name, thresholds[0]
        reason = f"{cheapest}: {name} score {score:.3f} < {self.tiers[1].name} threshold {first:.3f}"
        return Decision(cheapest, score, first, f"{reason} ({self._labels[0]}){note}")

def load_router(settings: RouterSettings | dict | None = None, artifact: str | os.PathLike[str] | None = None,
                opinions: SecondOpinions | None = None) -> Router:
    """Convenience for the proxy adapter: settings as a model or a plain mapping (e.g. from the YAML)."""
    if isinstance(settings, dict):
        settings = RouterSettings.model_validate(settings)
    settings = settings or RouterSettings()
    if artifact is not None:
        settings = settings.model_copy(update={"artifact": str(artifact)})
    return Router.from_settings(settings, opinions)
