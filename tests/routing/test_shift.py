"""Moving thresholds by a share of traffic: an operator (or the quality loop) says "send 20% more up" and the
router's thresholds move to where that share of recent scores lies."""

from __future__ import annotations

import numpy as np

from costroute_plugins.routing.shift import ScoreDistribution, shifted_thresholds


def scores_seen(values) -> ScoreDistribution:
    scores = ScoreDistribution()
    for value in values:
        scores.observe(float(value))
    return scores


def test_a_shift_moves_that_share_of_traffic_up_at_each_threshold():
    rng = np.random.default_rng(0)
    seen = rng.beta(2, 5, 4000)  # chat-like: scores bunched low
    scores = scores_seen(seen)
    calibrated = [0.2, 0.5]
    moved = shifted_thresholds(calibrated, 0.2, scores)
    for before, after in zip(calibrated, moved):
        assert abs(np.mean(seen >= after) - np.mean(seen >= before) - 0.2) < 0.01


def test_no_shift_or_too_few_scores_keeps_the_calibrated_thresholds():
    assert shifted_thresholds([0.3, 0.6], 0.0, scores_seen(np.linspace(0, 1, 500))) == [0.3, 0.6]
    assert shifted_thresholds([0.3, 0.6], 0.5, scores_seen([0.1, 0.2])) == [0.3, 0.6]


def test_a_full_shift_sends_everything_to_the_top_and_a_negative_one_moves_traffic_down():
    scores = scores_seen(np.linspace(0, 1, 1000))
    assert shifted_thresholds([0.3, 0.6], 1.0, scores) == [0.0, 0.0]
    lower = shifted_thresholds([0.3, 0.6], -0.1, scores)
    assert abs(lower[0] - 0.4) < 0.01 and abs(lower[1] - 0.7) < 0.01


def test_thresholds_never_fall_as_tiers_get_dearer():
    scores = scores_seen(np.concatenate([np.full(500, 0.1), np.full(500, 0.9)]))
    moved = shifted_thresholds([0.5, 0.55], 0.3, scores)
    assert moved[0] <= moved[1]


def test_memory_stays_bounded_and_old_scores_fade():
    scores = ScoreDistribution(window=1000)
    for _ in range(5000):
        scores.observe(0.1)
    for _ in range(5000):
        scores.observe(0.9)
    assert scores.total < 2000
    assert scores.share_below(0.5) < 0.05  # the recent traffic dominates
    scores.observe(float("nan"))
    assert scores.total < 2000
