"""A tier that keeps too little quality pages once, not on every audit, and again only after it recovered."""

from __future__ import annotations

from costroute_plugins.quality.alerts import StandingWatch
from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.estimate import QualityEstimates
from costroute_plugins.quality.judge import Verdict

CONFIG = QualityConfig(enabled=True, min_audits=3, target=0.95, alert_drop=0.05)


def judged(estimates: QualityEstimates, served: float, n: int = 1) -> None:
    for i in range(n):
        estimates.record(AuditOutcome(f"r{i}", "team:a", "routed", "cheap",
                                      Verdict("single", served_rating=served, reference_rating=9.0), 0.01))


def test_a_tier_below_target_alerts_once_until_it_recovers():
    estimates, watch = QualityEstimates.from_config(CONFIG), StandingWatch(CONFIG)
    judged(estimates, 6.0, n=2)
    assert watch.alerts(estimates) == []  # fewer than min_audits: no estimate yet

    judged(estimates, 6.0, n=2)
    fired = watch.alerts(estimates)
    assert {alert.key for alert in fired} == {"tier:cheap", "tenant:team:a"}
    alert = next(a for a in fired if a.key == "tier:cheap")
    assert alert.to_json()["type"] == "costroute.quality_below_target" and "66.7%" in alert.to_json()["text"]

    judged(estimates, 6.0, n=5)
    assert watch.alerts(estimates) == []  # still below: no second page

    judged(estimates, 9.0, n=200)  # recovered
    assert watch.alerts(estimates) == []
    judged(estimates, 1.0, n=600)  # and fell again
    assert {alert.key for alert in watch.alerts(estimates)} == {"tier:cheap", "tenant:team:a"}
