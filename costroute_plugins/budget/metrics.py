"""Budget series for Prometheus: how much of each budget is left and where its burn rate ends the period.

Built by the proxy adapter on the same registry as ``costroute_plugins.metrics.Metrics``. The ``budget`` label
is ``<budget name>/<subject>``, so a per-tenant budget has one series per tenant that has spent in the period;
subjects are bounded like tenants (``LabelBounds.tenant``): beyond the bound a budget's gauges read
``<budget name>/other``, holding the subject checked last, so an alert on it still says some subject is near its
cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from costroute_plugins.budget.decision import BudgetDecision
from costroute_plugins.labels import BoundedGauge, BoundedLabel, LabelBounds


@dataclass(frozen=True)
class BudgetMetrics:
    remaining_usd: Gauge
    projected_usd: Gauge
    limit_usd: Gauge
    decisions: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY, bounds: LabelBounds | None = None) -> BudgetMetrics:
        """The series on ``registry``; ``bounds`` shared with the other metric groups (default: the defaults)."""
        budget = {"budget": BudgetLabel((bounds or LabelBounds.default()).tenant)}
        return cls(
            remaining_usd=BoundedGauge("costroute_budget_remaining_usd", "USD left in the budget's current period",
                                       ["budget", "period"], registry=registry, bounds=budget),
            projected_usd=BoundedGauge("costroute_budget_projected_usd",
                                       "Spend the budget's period ends at if the burn rate so far continues",
                                       ["budget", "period"], registry=registry, bounds=budget),
            limit_usd=BoundedGauge("costroute_budget_limit_usd", "The budget's cap for one period",
                                   ["budget", "period"], registry=registry, bounds=budget),
            decisions=Counter("costroute_budget_decisions", "Budget checks by outcome level and action",
                              ["level", "action"], registry=registry),
        )

    def observe(self, decision: BudgetDecision) -> None:
        """Count the decision and refresh the gauges of every budget it looked at."""
        self.decisions.labels(decision.level, decision.action).inc()
        for state in decision.states:
            self.remaining_usd.labels(state.label, state.period).set(state.remaining_usd)
            self.projected_usd.labels(state.label, state.period).set(state.projected_usd)
            self.limit_usd.labels(state.label, state.period).set(state.limit_usd)


class BudgetLabel:
    """The ``budget`` label bounded by its subject: ``acme-daily/team:acme``, or ``acme-daily/other`` once the
    subjects are beyond their bound. Budget names never contain ``/`` (the config's pattern), so the first one
    separates name from subject."""

    def __init__(self, subjects: BoundedLabel) -> None:
        self.subjects = subjects

    def __call__(self, value: object) -> str:
        budget, _, subject = str(value).partition("/")
        return f"{budget}/{self.subjects(subject)}"
