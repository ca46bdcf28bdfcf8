"""A quality or cost target becomes the threshold that meets it, and the entry says what it buys."""

from __future__ import annotations

import numpy as np
import pytest

from costroute_plugins.routing.calibration import CalibrationError, calibrate, parse_target, target_key


def _synthetic(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy but informative score: the higher it is, the likelier premium beats cheap."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    q_premium = (rng.random(n) < 0.85).astype(float)
    q_cheap = np.where(rng.random(n) < score, 0.0, q_premium)
    return score, q_cheap, q_premium


def _routed(score, q_cheap, q_premium, threshold) -> tuple[float, float]:
    premium = score >= threshold
    quality = np.where(premium, q_premium, q_cheap).mean() / q_premium.mean()
    return float(quality), float(premium.mean())


def test_a_quality_target_gives_the_cheapest_threshold_that_meets_it() -> None:
    score, q_cheap, q_premium = _synthetic(0)
    entry = calibrate(score, q_cheap, q_premium, "quality>=0.95")
    quality, share = _routed(score, q_cheap, q_premium, entry.threshold)
    assert quality >= 0.95
    assert (quality, share) == pytest.approx((entry.quality, entry.premium_share))
    # One notch higher (fewer premium calls) misses the target: the threshold is the cheapest that works.
    higher = np.min(score[score > entry.threshold])
    assert _routed(score, q_cheap, q_premium, higher)[0] < 0.95


def test_a_premium_share_cap_is_never_exceeded() -> None:
    score, q_cheap, q_premium = _synthetic(1)
    entry = calibrate(score, q_cheap, q_premium, "share<=0.30")
    quality, share = _routed(score, q_cheap, q_premium, entry.threshold)
    assert share <= 0.30 and share == pytest.approx(0.30, abs=0.001)
    assert quality == pytest.approx(entry.quality)


def test_a_threshold_calibrated_on_validation_holds_on_fresh_data_of_the_same_kind() -> None:
    entry = calibrate(*_synthetic(2), "quality>=0.95")
    quality, _ = _routed(*_synthetic(3), entry.threshold)
    assert quality == pytest.approx(0.95, abs=0.01)


def test_the_extreme_targets_mean_all_premium_and_no_premium() -> None:
    score, q_cheap, q_premium = _synthetic(4)
    assert calibrate(score, q_cheap, q_premium, "share<=0.00").premium_share == 0.0
    assert calibrate(score, q_cheap, q_premium, "quality>=1.00").quality >= 1.0


def test_targets_are_written_and_read_in_one_canonical_form() -> None:
    assert target_key(quality=0.95) == "quality>=0.95"
    assert target_key(share=0.3) == "share<=0.30"
    assert parse_target("share<=0.30") == ("share", 0.30)
    with pytest.raises(CalibrationError):
        parse_target("premium<30%")
    with pytest.raises(CalibrationError):
        target_key(quality=0.9, share=0.3)
