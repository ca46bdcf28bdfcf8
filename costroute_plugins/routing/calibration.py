"""Turning a business target into a score threshold, measured on validation data the model did not train on.

Two kinds of target: a quality target ("keep >= 95% of premium quality": mean quality of the routed mix over
mean quality of all-premium) or a cost target ("<= 30% of calls to premium"). Each becomes the highest
threshold (fewest premium calls) that meets it; the entry keeps the expected quality, share and PGR so the
operator sees what the threshold buys before deploying it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

_TARGET = re.compile(r"^(quality>=|share<=)(0(?:\.\d+)?|1(?:\.0+)?)$")


class CalibrationError(ValueError):
    """A target cannot be parsed or a threshold is asked for a target the calibration table lacks."""


@dataclass(frozen=True)
class CalibrationEntry:
    """One target and the threshold meeting it: requests scoring ``>= threshold`` go to the premium side."""

    target: str
    threshold: float
    premium_share: float
    quality: float
    pgr: float

    def to_json(self) -> dict:
        return asdict(self)


def target_key(*, quality: float | None = None, share: float | None = None) -> str:
    """Canonical key of a target in the calibration table, e.g. ``quality>=0.95`` or ``share<=0.30``."""
    if quality is not None and share is None:
        kind, value = "quality>=", quality
    elif share is not None and quality is None:
        kind, value = "share<=", share
    else:
        raise CalibrationError("give exactly one of a quality target or a premium-share target")
    if not 0.0 <= value <= 1.0:
        raise CalibrationError(f"targets are fractions in [0, 1], got {value}")
    return f"{kind}{value:.2f}"


def parse_target(key: str) -> tuple[str, float]:
    match = _TARGET.match(key.strip())
    if not match:
        raise CalibrationError(f"target {key!r} is not of the form 'quality>=0.95' or 'share<=0.30'")
    return match.group(1)[:-2], float(match.group(2))


def calibrate(scores: np.ndarray, q_cheap: np.ndarray, q_premium: np.ndarray, target: str) -> CalibrationEntry:
    """The threshold meeting ``target`` on this data; ties at a threshold all go to the premium side."""
    kind, value = parse_target(target)
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    if n == 0:
        raise CalibrationError("no validation rows to calibrate on")
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    gain = (np.asarray(q_premium, dtype=np.float64) - np.asarray(q_cheap, dtype=np.float64))[order]
    cumulative = np.concatenate(([0.0], np.cumsum(gain)))
    # Only cut points between distinct scores are realisable by a threshold: k = number of scores >= t.
    cuts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_scores) != 0) + 1, [n]))
    thresholds = np.concatenate(([math.nextafter(float(sorted_scores[0]), math.inf)], sorted_scores[cuts[1:] - 1]))
    mean_cheap, mean_premium = float(np.mean(q_cheap)), float(np.mean(q_premium))
    perf = mean_cheap + cumulative[cuts] / n
    quality = perf / mean_premium if mean_premium > 0 else np.ones_like(perf)
    share = cuts / n
    # Both kinds are always reachable: all-premium has quality 1 and no-premium has share 0.
    if kind == "quality":
        index = int(np.flatnonzero(quality >= value - 1e-12)[0])
    else:
        index = int(np.flatnonzero(share <= value + 1e-12)[-1])
    total_gain = cumulative[-1]
    return CalibrationEntry(
        target=target,
        threshold=float(thresholds[index]),
        premium_share=float(share[index]),
        quality=float(quality[index]),
        pgr=float(cumulative[cuts[index]] / total_gain) if total_gain > 0 else 1.0,
    )
