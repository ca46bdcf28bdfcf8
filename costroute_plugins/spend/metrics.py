"""Spend series beyond the foundation's ``costroute_spend_usd_total{tenant,tier}``: spend per feature, anomaly
events and the ledger's health. Built by the adapter on the registry of ``costroute_plugins.metrics.Metrics``,
with the same ``LabelBounds``: feature tags are the client's choice, tenants the keys'."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from costroute_plugins.labels import BoundedCounter, LabelBounds
from costroute_plugins.spend.ledger import SpendLedger
from costroute_plugins.spend.ledgers import Ledger


@dataclass(frozen=True)
class SpendMetrics:
    feature_spend_usd: Counter
    anomalies: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY, ledger: Ledger | None = None,
               bounds: LabelBounds | None = None) -> SpendMetrics:
        """The series on ``registry``; with a ``ledger``, its health series too (``LedgerCollector``)."""
        bounds = bounds or LabelBounds.default()
        if ledger is not None:
            registry.register(LedgerCollector(ledger))
        return cls(
            feature_spend_usd=BoundedCounter("costroute_feature_spend_usd", "Spend in USD by feature tag and tenant",
                                             ["feature", "tenant"], registry=registry,
                                             bounds={"feature": bounds.feature, "tenant": bounds.tenant}),
            anomalies=BoundedCounter("costroute_spend_anomalies", "Spend-rate anomaly events by tenant", ["tenant"],
                                     registry=registry, bounds={"tenant": bounds.tenant}),
        )


class LedgerCollector(Collector):
    """Ledger health read at scrape time from the ledger's own counters, so nothing is double-booked:
    ``costroute_ledger_up`` (0 while PostgreSQL is unreachable and rows go to the spool), rows by outcome, rows
    waiting in memory, the spool's size on disk, and the damage it absorbed: spool lines that were not rows, lines
    deleted from the full ``.rejected`` files, rows stored with corrected token counts. A file ledger has no
    spool: its spool series stay 0, so dashboards and alerts read the same series whichever ledger runs."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def describe(self) -> list:
        return []  # collected lazily: the ledger's state only exists at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ledger = self.ledger
        spool = ledger.spool if isinstance(ledger, SpendLedger) else None
        yield GaugeMetricFamily("costroute_ledger_up", "1 while the spend ledger writes to PostgreSQL, 0 while it "
                                "spools to disk", value=1.0 if ledger.healthy else 0.0)
        rows = CounterMetricFamily("costroute_ledger_rows", "Ledger rows by outcome: written to PostgreSQL, spooled "
                                   "to disk, replayed from the spool, dropped (spool full), rejected by PostgreSQL",
                                   labels=["outcome"])
        for outcome in ("written", "spooled", "replayed", "dropped", "rejected"):
            rows.add_metric([outcome], getattr(ledger.stats, outcome))
        yield rows
        yield GaugeMetricFamily("costroute_ledger_queued_rows", "Finished requests held in memory, not yet written",
                                value=ledger.queued)
        yield GaugeMetricFamily("costroute_ledger_spool_bytes", "Size of the on-disk spool awaiting replay",
                                value=spool.size() if spool else 0)
        yield CounterMetricFamily("costroute_ledger_unreadable_lines", "Spool lines that were not a ledger row (a "
                                  "write torn by a crash, corruption), set aside in <spool>.rejected, not replayed",
                                  value=spool.unreadable if spool else 0)
        yield CounterMetricFamily("costroute_ledger_discarded_lines", "Lines deleted from the <spool>.rejected files "
                                  "to keep them under rejected_max_bytes", value=spool.discarded if spool else 0)
        yield CounterMetricFamily("costroute_ledger_adjusted_rows", "Rows whose token counts the upstream reported "
                                  "as negative, fractional, not numbers or too large, stored corrected",
                                  value=ledger.stats.tokens_adjusted)
