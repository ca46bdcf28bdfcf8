"""The one percentile costroute reports: nearest rank on the sorted values, no interpolation, so a p99 of 100
latencies is a latency that was really observed."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """``share`` in [0, 1] (0.99 for p99); NaN when there are no values, so an empty group reads as missing."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
