"""Spend series beyond the foundation's ``costroute_spend_usd_total{tenant,tier}``: spend per feature, anomaly
events and the ledger's health. Built by the adapter on the registry of ``costroute_plugins.metrics.Metrics``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from costroute_plugins.spend.ledger import SpendLedger


@dataclass(frozen=True)
class SpendMetrics:
    feature_spend_usd: Counter
    anomalies: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY, ledger: SpendLedger | None = None) -> SpendMetrics:
        """The series on ``registry``; with a ``ledger``, its health series too (``LedgerCollector``)."""
        if ledger is not None:
            registry.register(LedgerCollector(ledger))
        return cls(
            feature_spend_usd=Counter("costroute_feature_spend_usd", "Spend in USD by feature tag and tenant",
                                      ["feature", "tenant"], registry=registry),
            anomalies=Counter("costroute_spend_anomalies", "Spend-rate anomaly events by tenant", ["tenant"],
                              registry=registry),
        )


class LedgerCollector(Collector):
    """Ledger health read at scrape time from the ledger's own counters, so nothing is double-booked:
    ``costroute_ledger_up`` (0 while PostgreSQL is unreachable and rows go to the spool), rows by outcome, rows
    waiting in memory, and the spool's size on disk."""

    def __init__(self, ledger: SpendLedger) -> None:
        self.ledger = ledger

    def describe(self) -> list:
        return []  # collected lazily: the ledger's state only exists at scrape time

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ledger = self.ledger
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
                                value=ledger.spool.size())
