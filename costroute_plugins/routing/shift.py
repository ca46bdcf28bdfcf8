"""Moving the router's thresholds by a share of traffic, measured on the scores the router has seen.

A threshold is a score; what an operator (and the quality loop) reasons about is how much traffic crosses it.
The offline calibration picks thresholds on validation data, but live traffic scores differently (chat prompts
bunch up where math prompts spread out), so a fixed move in score would move an unknown share of traffic. A
*shift* ``s`` instead moves each threshold ``t`` to the score below which ``F(t) - s`` of recent requests fall,
``F`` being the share of recent scores under ``t``: at every tier boundary ``s`` of the traffic moves up one
tier (``s < 0`` moves it down). ``s = 0`` is the calibrated threshold, exactly.

``ScoreDistribution`` keeps recent scores in a fixed histogram, so memory and the work per decision are constant
whatever the traffic: 1,000 bins on [0, 1] place a threshold within 0.001 of the exact quantile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 1000
#: Scores remembered: older ones fade out by halving the histogram when it holds twice this many.
WINDOW = 5000


class ScoreDistribution:
    """Recent "needs premium" scores of one replica, as a decaying histogram on [0, 1]."""

    def __init__(self, window: int = WINDOW, bins: int = BINS) -> None:
        self.window = window
        self.counts = np.zeros(bins, dtype=np.float64)
        self._cumulative: np.ndarray | None = None

    @property
    def total(self) -> float:
        return float(self.counts.sum())

    def observe(self, score: float) -> None:
        if not 0.0 <= score <= 1.0:  # NaN included: a broken score says nothing about the traffic
            return
        self.counts[min(int(score * len(self.counts)), len(self.counts) - 1)] += 1.0
        self._cumulative = None
        if self.counts.sum() >= 2 * self.window:
            self.counts *= 0.5

    def _cdf(self) -> np.ndarray:
        if self._cumulative is None:
            self._cumulative = np.concatenate(([0.0], np.cumsum(self.counts))) / max(self.total, 1e-12)
        return self._cumulative

    def share_below(self, score: float) -> float:
        """Share of recent scores under ``score`` (linear inside a bin)."""
        bins = len(self.counts)
        position = min(max(score, 0.0), 1.0) * bins
        index = min(int(position), bins - 1)
        cdf = self._cdf()
        return float(cdf[index] + (cdf[index + 1] - cdf[index]) * (position - index))

    def score_at(self, share: float) -> float:
        """The score below which ``share`` of recent scores fall (the inverse of ``share_below``)."""
        cdf = self._cdf()
        share = min(max(share, 0.0), 1.0)
        index = int(np.searchsorted(cdf, share, side="left"))
        if index == 0:
            return 0.0
        low, high = cdf[index - 1], cdf[min(index, len(cdf) - 1)]
        inside = (share - low) / (high - low) if high > low else 0.0
        return float((index - 1 + inside) / len(self.counts))


def shifted_thresholds(thresholds: Sequence[float], shift: float, scores: ScoreDistribution,
                       min_scores: int = 50) -> list[float]:
    """``thresholds`` moved so ``shift`` of the traffic crosses each one upwards (``shift`` < 0: downwards).

    Unchanged at shift 0, and until ``min_scores`` scores were seen (a quantile of a handful of scores is
    noise). The result stays non-decreasing, as the router requires; a shift of 1 sends everything to the top.
    """
    if shift == 0.0 or scores.total < min_scores:
        return list(thresholds)
    moved = []
    for threshold in thresholds:
        share = scores.share_below(threshold) - shift
        if share <= 0.0:
            moved.append(0.0)  # everything crosses it
        elif share >= 1.0:
            moved.append(max(threshold, 1.0 + 1e-9))  # nothing does
        else:
            moved.append(scores.score_at(share))
    for index in range(1, len(moved)):
        moved[index] = max(moved[index], moved[index - 1])
    return moved
