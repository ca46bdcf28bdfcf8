"""What every costroute plugin in one proxy process shares: validated config, metrics, the logger."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from costroute_plugins import __version__
from costroute_plugins.budget.alert_once import AlertOnce
from costroute_plugins.budget.factory import build_alert_once, build_guard
from costroute_plugins.budget.guard import BudgetGuard
from costroute_plugins.budget.metrics import BudgetMetrics
from costroute_plugins.config import CostrouteConfig, parse_config
from costroute_plugins.config_errors import redact_url
from costroute_plugins.embedding import EmbeddingMemo
from costroute_plugins.embedding_backend import build_embedder
from costroute_plugins.labels import LabelBounds
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.second_opinions import proxy_second_opinions
from costroute_plugins.quality.cache_loop import CacheLoop
from costroute_plugins.quality.daily import DailyTotal
from costroute_plugins.quality.loop import QualityLoop
from costroute_plugins.routing.blend import SecondOpinions
from costroute_plugins.routing.feedback import FeedbackService
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.spend.anomaly import AnomalyDetector
from costroute_plugins.spend.ledgers import Ledger, build_ledger
from costroute_plugins.spend.metrics import SpendMetrics
from costroute_plugins.spend.pricing import PriceBook

log = logging.getLogger("costroute")


def _ensure_log_handler() -> None:
    """LiteLLM configures its own loggers only; without a handler our start-up and degradation lines vanish."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s costroute %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(os.environ.get("COSTROUTE_LOG_LEVEL", "INFO").upper())
        log.propagate = False


def proxy_config_path() -> str | None:
    """The YAML the proxy was started with: ``COSTROUTE_CONFIG`` wins, else LiteLLM's own ``--config`` path."""
    explicit = os.environ.get("COSTROUTE_CONFIG")
    if explicit:
        return explicit
    from litellm.proxy import proxy_server

    return proxy_server.user_config_file_path or os.environ.get("CONFIG_FILE_PATH")


def load_checked(path: str | None) -> CostrouteConfig:
    """The config the proxy starts with, after every check ``costroute check-config`` runs (``config_check``):
    errors stop the start with one message listing them all, warnings are logged and the start goes on."""
    from costroute_plugins.proxy.config_check import check_file

    if path is None:
        return parse_config(None)
    check = check_file(path)
    for warning in check.warnings:
        log.warning("%s", warning)
    return check.checked_config()


def startup_summary(config: CostrouteConfig, path: str | None) -> list[str]:
    """The start-up log lines saying what the proxy runs with; endpoints are named with passwords masked."""
    ledger = config.spend.ledger
    redis = f"redis {redact_url(config.redis_url)}" if config.redis_url else "redis not configured (in-process state)"
    budgets = f"{len(config.budget.budgets)} configured" if config.budget.enabled and config.budget.budgets else "none"
    if not ledger.enabled:
        spend = "off"
    elif ledger.file:
        spend = (f"file {ledger.file} (JSON lines; at {ledger.file_max_bytes // 2**20} MiB it becomes "
                 f"{ledger.file}.1); read it with `costroute report --rows {ledger.file}`")
    else:
        spend = f"PostgreSQL {redact_url(ledger.dsn or '')} table {ledger.db_schema}.{ledger.table}"
    return [
        (f"costroute {__version__} loaded from {path or 'embedded defaults'}: tiers {' < '.join(config.tiers)}, "
         f"routing {config.routing.mode} (baseline tier {config.routing.baseline_tier}), cache "
         f"{config.cache.mode}, {redis}"),
        f"budgets: {budgets}; spend ledger: {spend}",
    ]


@dataclass
class Runtime:
    config: CostrouteConfig
    metrics: Metrics
    embeddings: EmbeddingMemo
    guard: BudgetGuard
    prices: PriceBook
    anomalies: AnomalyDetector
    budget_metrics: BudgetMetrics
    spend_metrics: SpendMetrics
    ledger: Ledger | None = None
    # Which budget alerts this replica (and, on Redis, any replica) already announced.
    budget_alerts: AlertOnce = field(default_factory=AlertOnce)
    # Set by the router's classifier at start (issue 4): observed tier latency and thumbs-down feedback.
    latency: TierLatency = field(default_factory=TierLatency)
    # Today's gross savings on this replica (the spend plugin adds them): what audit spend is capped against.
    savings_today: DailyTotal = field(default_factory=DailyTotal)
    feedback: FeedbackService | None = None
    # Set by the quality plugin: the router routes with the loop's shift, the cache with its similarity floor.
    quality_loop: QualityLoop | None = None
    cache_loop: CacheLoop | None = None
    config_path: str | None = None
    started_at: float = field(default_factory=time.monotonic)
    # What a router artifact blending a second opinion is served with (proxy/second_opinions.py).
    second_opinions: SecondOpinions = field(default_factory=dict)

    def warm_embedder(self) -> None:
        """Load the embedding model at start, not on the first request; says how long it took."""
        started = time.monotonic()
        self.embeddings.embedder.embed(["warm up"])
        log.info("embedding model %s loaded in %.1f s", self.embeddings.embedder.name, time.monotonic() - started)

    @classmethod
    def from_proxy(cls) -> Runtime:
        """Load config from the proxy's YAML, checked whole (``load_checked``): an error raises here and stops the
        proxy start."""
        _ensure_log_handler()
        path = proxy_config_path()
        config = load_checked(path)
        ledger = build_ledger(config.spend.ledger)
        # One set of label bounds for every series, so a tenant is named in all of them or in none.
        bounds = LabelBounds.from_config(config.spend.metrics, tiers=config.tiers)
        metrics = Metrics.create(bounds=bounds)
        runtime = cls(
            config=config,
            metrics=metrics,
            embeddings=EmbeddingMemo(build_embedder(
                config.embedding_model, config.embedding_backend, config.embedding_threads,
                degraded=lambda reason: metrics.plugin_degraded.labels("embedding", reason).inc())),
            guard=build_guard(config.budget, config.redis_url),
            budget_alerts=build_alert_once(config.budget, config.redis_url),
            prices=PriceBook(config.spend.self_hosted_prices),
            anomalies=AnomalyDetector(config.spend.anomaly),
            budget_metrics=BudgetMetrics.create(bounds=bounds),
            spend_metrics=SpendMetrics.create(ledger=ledger, bounds=bounds),
            ledger=ledger,
            config_path=path,
            second_opinions=proxy_second_opinions(metrics),
        )
        for line in startup_summary(config, path):
            log.info("%s", line)
        return runtime


async def prompt_embedding(runtime: Runtime, tenant: str, text: str) -> np.ndarray:
    """The prompt's embedding from the shared memo (``Runtime.embeddings``), for the router and the cache alike. A
    wait for one not computed yet is timed as stage ``embedding`` (``stages.py``); a memoised vector is no wait, so
    the histogram shows what requests spend waiting for the model."""
    known = runtime.embeddings.known(tenant, text)
    if known is not None:
        return known
    with runtime.metrics.stages.timed("embedding"):
        return await runtime.embeddings.avector(tenant, text)
