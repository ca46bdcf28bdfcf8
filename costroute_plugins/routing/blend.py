"""A second opinion blended into the router's score, with a weight the operator's own audits choose.

Why: a router trained on public outcomes is weakest on a domain missing from them, and there another scorer may
rank better. Measured (``bench/learn_transfer.py``, MMLU STEM held out of training): LiteLLM's complexity-router
keyword heuristic ranks STEM at APGR 0.666, the router learned from 1,000 STEM audits at 0.613, the two blended at
the weight learn chose (0.4) at 0.682. costroute plugs into that complexity router anyway, so its heuristic is at
hand (0.2-0.9 ms a request) and is the second opinion learn offers. Whether it helps is the operator's traffic's
question, answered on their audited rows (``routing/retrain_blend.py``), so nothing is blended where it does not.

The blended score is ``(1 - w) * F_self(router score) + w * F_other(second opinion's score)``: each score goes
through its empirical CDF on the operator's traffic, because the two live on unrelated scales (a logistic
probability; LiteLLM's tier plus a within-tier score), so the sum is of ranks in [0, 1] and means the same on
every request. The CDFs are stored as quantiles (``Blend`` in the artifact) and read with ``np.interp``; tied
quantiles (a heuristic scores many prompts alike) count at their middle rank. The calibration table of a blended
artifact is measured on the blended score, so a blended artifact is only served with its second opinion.

Routing never imports LiteLLM: the second opinion is a ``TierClassifier`` handed in by name (``SecondOpinions``),
by the proxy adapters in serving and by ``costroute learn`` when it trains.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from costroute_plugins.artifacts import ArtifactError
from costroute_plugins.routing.apgr import routing_metrics
from costroute_plugins.routing.artifact import Blend, RouterArtifact
from costroute_plugins.routing.base import RequestView, TierClassifier
from costroute_plugins.routing.logistic import LogisticClassifier

#: Second opinions by the name an artifact's blend gives, each built when an artifact first needs it.
SecondOpinions = Mapping[str, Callable[[], TierClassifier]]

#: Quantiles stored per CDF: percentiles, enough for ranks on a few hundred to a few thousand rows.
QUANTILES = 101
#: Weights of the second opinion learn tries; 0 (no blend) always among them, never the second opinion alone.
WEIGHTS = (0.0, 0.2, 0.4, 0.6, 0.8)
#: A weight above 0 is kept only when it beats no blend by this much APGR on the rows it is chosen on: a second
#: opinion that is noise can win by chance on a few hundred rows, and a blend costs a scorer per request.
MIN_GAIN = 0.01
#: The most APGR a blend may cost any public file (out of fold): half the gate's default public tolerance, the
#: rest left for what fitting the operator's rows costs. The second opinion is weak on some public domains
#: (LiteLLM's heuristic on GSM8K: 0.56 where the router has 0.69), and the router must not forget them.
MAX_PUBLIC_COST = 0.01


class BlendError(ArtifactError):
    """An artifact blends a second opinion this process cannot provide; its thresholds mean nothing without it."""


def quantiles(scores: np.ndarray, count: int = QUANTILES) -> np.ndarray:
    """``count`` quantiles of ``scores`` at evenly spaced probabilities: what ``Blend`` stores."""
    return np.quantile(np.asarray(scores, dtype=np.float64), np.linspace(0.0, 1.0, count))


class EmpiricalCdf:
    """``F(x)``: the share of the reference scores below ``x``, read off stored quantiles; a run of equal
    quantiles (a tie in the reference) maps to the run's middle probability."""

    def __init__(self, stored: np.ndarray) -> None:
        probabilities = np.linspace(0.0, 1.0, len(stored))
        self.values, inverse = np.unique(np.asarray(stored, dtype=np.float64), return_inverse=True)
        self.probabilities = np.bincount(inverse, probabilities) / np.bincount(inverse)

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        return np.asarray(np.interp(scores, self.values, self.probabilities))


def blended(self_ranks: np.ndarray, other_ranks: np.ndarray, weight: float) -> np.ndarray:
    """The one blending formula, for serving and for choosing the weight alike."""
    return (1.0 - weight) * np.asarray(self_ranks) + weight * np.asarray(other_ranks)


class BlendedClassifier(TierClassifier):
    """The router's classifier with a second opinion blended in, as the artifact's ``Blend`` says."""

    def __init__(self, base: TierClassifier, other: TierClassifier, blend: Blend) -> None:
        self.base = base
        self.other = other
        self.blend = blend
        self.name = f"{base.name}+{blend.opinion}"
        self._self_cdf = EmpiricalCdf(blend.self_quantiles)
        self._other_cdf = EmpiricalCdf(blend.other_quantiles)

    def premium_need(self, request: RequestView) -> float:
        return float(blended(self._self_cdf(self.base.premium_need(request)),
                             self._other_cdf(self.other.premium_need(request)), self.blend.weight))

    def premium_need_batch(self, requests: Sequence[RequestView]) -> np.ndarray:
        return blended(self._self_cdf(self.base.premium_need_batch(requests)),
                       self._other_cdf(self.other.premium_need_batch(requests)), self.blend.weight)


def artifact_classifier(artifact: RouterArtifact, opinions: SecondOpinions | None = None) -> TierClassifier:
    """How ``artifact`` scores: its logistic model, blended with the second opinion its blend names, if any."""
    base = LogisticClassifier(artifact)
    blend = artifact.blend
    if blend is None:
        return base
    build = (opinions or {}).get(blend.opinion)
    if build is None:
        raise BlendError(
            f"the router artifact blends the second opinion {blend.opinion!r} (weight {blend.weight:g}) and its "
            f"thresholds are calibrated on the blended score, but {', '.join(opinions or {}) or 'nothing'} is "
            "available here; serve it through the LiteLLM proxy adapters, which provide 'litellm-heuristic'")
    return BlendedClassifier(base, build(), blend)


def rank_apgr_by_weight(self_ranks: np.ndarray, other_ranks: np.ndarray, q_cheap: np.ndarray,
                        q_premium: np.ndarray, weights: Sequence[float] = WEIGHTS) -> dict[float, float]:
    """APGR of each weight's blend on rows whose two ranks were measured out of sample."""
    return {weight: routing_metrics(blended(self_ranks, other_ranks, weight), q_cheap, q_premium).apgr
            for weight in weights}


def choose_weight(apgr_by_weight: Mapping[float, float], min_gain: float = MIN_GAIN) -> float:
    """The weight with the best APGR, or 0 (no blend) unless that beats no blend by ``min_gain``."""
    best = max(apgr_by_weight, key=lambda weight: (apgr_by_weight[weight], -weight))
    return best if apgr_by_weight[best] >= apgr_by_weight.get(0.0, -np.inf) + min_gain else 0.0
