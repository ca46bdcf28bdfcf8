"""Spend attribution: what each request cost (self-hosted tiers at GPU TCO), what cache and router saved,
recorded once per request in PostgreSQL, reported per tenant / feature / tier / day, with anomaly alerts."""

from costroute_plugins.spend.anomaly import AnomalyDetector, AnomalyEvent
from costroute_plugins.spend.config import AnomalyConfig, LedgerConfig, SpendAttributionConfig
from costroute_plugins.spend.file_ledger import FileLedger
from costroute_plugins.spend.ledger import LedgerStats, SpendLedger
from costroute_plugins.spend.metrics import SpendMetrics
from costroute_plugins.spend.pricing import PriceBook, TokenRates, gpu_token_rates
from costroute_plugins.spend.record import AttributionRecord, money
from costroute_plugins.spend.webhook import post_event

__all__ = [
    "AnomalyConfig", "AnomalyDetector", "AnomalyEvent", "AttributionRecord", "FileLedger", "LedgerConfig",
    "LedgerStats", "PriceBook", "SpendAttributionConfig", "SpendLedger", "SpendMetrics", "TokenRates",
    "gpu_token_rates", "money", "post_event",
]
