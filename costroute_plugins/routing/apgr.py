"""Routing quality metrics (APGR, CPT) as RouteLLM defines them, so figures compare across tools.

For a cheap model C and a premium model P over n prompts with qualities qC[i], qP[i]: sort the prompts by the
router's "needs premium" score, highest first; sending the top k to P gives
``perf(k) = (sum of qP over the top k + sum of qC over the rest) / n`` and
``PGR(k) = (perf(k) - mean qC) / (mean qP - mean qC)``, which simplifies to the cumulative share of the total
premium-over-cheap gain ``d = qP - qC`` captured by the top k. APGR is the trapezoid area of PGR over k/n in
[0, 1] (random routing: about 0.5); CPT(x) is the smallest k/n with PGR >= x (reported as cpt50, cpt80). Ties are
put in random order and every figure is the mean over several seeds, so a classifier that scores many prompts
alike is not flattered by row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_SEEDS = 10


class MetricsError(ValueError):
    """The data cannot be scored (empty, or the premium model is no better than the cheap one on average)."""


@dataclass(frozen=True)
class RoutingMetrics:
    n: int
    apgr: float
    cpt50: float
    cpt80: float


def pgr_curve(scores: np.ndarray, q_cheap: np.ndarray, q_premium: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PGR(k) for k = 0..n (length n + 1), one random order of tied scores drawn from ``rng``."""
    gain = np.asarray(q_premium, dtype=np.float64) - np.asarray(q_cheap, dtype=np.float64)
    total = gain.sum()
    if len(gain) == 0 or total <= 0:
        raise MetricsError(
            "PGR is undefined: the premium model must score higher than the cheap model on average "
            f"(mean gain {total / max(len(gain), 1):.4f} over {len(gain)} prompts)"
        )
    shuffled = rng.permutation(len(gain))
    order = shuffled[np.argsort(-np.asarray(scores, dtype=np.float64)[shuffled], kind="stable")]
    return np.concatenate(([0.0], np.cumsum(gain[order]))) / total


def cpt(curve: np.ndarray, target: float) -> float:
    """Smallest share of calls sent to premium at which PGR reaches ``target``."""
    reached = np.flatnonzero(curve >= target - 1e-12)
    return float(reached[0]) / (len(curve) - 1)


def routing_metrics(
    scores: np.ndarray, q_cheap: np.ndarray, q_premium: np.ndarray, seeds: int = DEFAULT_SEEDS
) -> RoutingMetrics:
    """APGR (trapezoid area under PGR over k/n in [0, 1]), CPT(50%) and CPT(80%), each a mean over seeds."""
    n = len(scores)
    x = np.linspace(0.0, 1.0, n + 1)
    apgrs, cpt50s, cpt80s = [], [], []
    for seed in range(seeds):
        curve = pgr_curve(scores, q_cheap, q_premium, np.random.default_rng(seed))
        apgrs.append(float(np.sum((curve[1:] + curve[:-1]) * np.diff(x)) / 2.0))
        cpt50s.append(cpt(curve, 0.5))
        cpt80s.append(cpt(curve, 0.8))
    return RoutingMetrics(n=n, apgr=float(np.mean(apgrs)), cpt50=float(np.mean(cpt50s)), cpt80=float(np.mean(cpt80s)))


def mean_pgr_curve(
    scores: np.ndarray, q_cheap: np.ndarray, q_premium: np.ndarray, seeds: int = DEFAULT_SEEDS
) -> np.ndarray:
    """The PGR curve averaged over tie-breaking seeds, for plotting."""
    return np.mean(
        [pgr_curve(scores, q_cheap, q_premium, np.random.default_rng(seed)) for seed in range(seeds)], axis=0
    )
