"""Alerts when audits show a tier, a tenant or the cache keeping less quality than the operator's target.

A key alerts when its estimate's **upper** bound falls below ``target - alert_drop`` (``standing`` "below"): even
the most favourable reading of the audits misses the target, so a few unlucky audits do not page anyone. It
alerts once on entering that state and again only after it recovered (standing back to "ok" or "at_risk") and
fell again: one page per incident, however many audits confirm it. The state is per replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.estimate import Estimate, QualityEstimates


@dataclass(frozen=True)
class QualityAlert:
    key: str
    estimate: Estimate
    floor: float

    def to_json(self) -> dict[str, Any]:
        """Slack-compatible (``text``) and machine-readable (the other fields) at once."""
        return {
            "type": "costroute.quality_below_target",
            "text": f"costroute: {self.key} keeps {self.estimate.value:.1%} of the top tier's quality "
                    f"(95% interval {self.estimate.lower:.1%}-{self.estimate.upper:.1%}, {self.estimate.count} "
                    f"audits), below the {self.floor:.1%} floor",
            "key": self.key, "value": self.estimate.value, "lower": self.estimate.lower,
            "upper": self.estimate.upper, "audits": self.estimate.count, "floor": self.floor,
        }


class StandingWatch:
    """Turns the estimates into alerts, one per key each time it falls below the floor."""

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self._below: set[str] = set()

    def alerts(self, estimates: QualityEstimates) -> list[QualityAlert]:
        """The keys that fell below the floor since the last call."""
        floor = self.config.target - self.config.alert_drop
        fired = []
        for key in estimates.keys():
            label, standing = str(key), estimates.standing(key, self.config.target)
            estimate = estimates.quality(key)
            if standing == "below" and estimate is not None and label not in self._below:
                self._below.add(label)
                fired.append(QualityAlert(label, estimate, floor))
            elif standing in ("ok", "at_risk"):
                self._below.discard(label)
        return fired
