"""The one percentile the benchmarks report: nearest rank on the sorted values (no interpolation), so a p99 of
100 samples is a latency that was really observed."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
