"""What every costroute plugin in one proxy process shares: validated config, metrics, the logger."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

from costroute_plugins import __version__
from costroute_plugins.budget.factory import build_guard
from costroute_plugins.budget.guard import BudgetGuard
from costroute_plugins.budget.metrics import BudgetMetrics
from costroute_plugins.config import SECTION, CostrouteConfig, CostrouteConfigError, parse_config, read_document
from costroute_plugins.embedding import EmbeddingMemo, SentenceTransformerEmbedder
from costroute_plugins.labels import LabelBounds
from costroute_plugins.metrics import Metrics
from costroute_plugins.routing.feedback import FeedbackService
from costroute_plugins.routing.latency import TierLatency
from costroute_plugins.spend.anomaly import AnomalyDetector
from costroute_plugins.spend.ledger import SpendLedger
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
    """The costroute section plus the router entries that use it, checked together (see ``router_check``)."""
    from costroute_plugins.proxy.router_check import router_problems

    if path is None:
        return parse_config(None)
    document = read_document(path)
    config = parse_config(document.get(SECTION), source=path)
    problems = router_problems(document, config)
    if problems:
        raise CostrouteConfigError(f"invalid costroute configuration in {path}:\n  " + "\n  ".join(problems))
    return config


def has_master_key(path: str | None) -> bool:
    """Whether the proxy authenticates callers: a master key in the config or ``LITELLM_MASTER_KEY``."""
    document = read_document(path) if path else {}
    settings = document.get("general_settings") or {}
    return bool(os.environ.get("LITELLM_MASTER_KEY") or (isinstance(settings, dict) and settings.get("master_key")))


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
    ledger: SpendLedger | None = None
    # Set by the router's classifier at start (issue 4): observed tier latency and thumbs-down feedback.
    latency: TierLatency = field(default_factory=TierLatency)
    feedback: FeedbackService | None = None
    config_path: str | None = None
    started_at: float = field(default_factory=time.monotonic)

    def warm_embedder(self) -> None:
        """Load the embedding model at start, not on the first request; says how long it took."""
        started = time.monotonic()
        self.embeddings.embedder.embed(["warm up"])
        log.info("embedding model %s loaded in %.1f s", self.embeddings.embedder.name, time.monotonic() - started)

    @classmethod
    def from_proxy(cls) -> Runtime:
        """Load config from the proxy's YAML; a bad section raises here and stops the proxy start."""
        _ensure_log_handler()
        path = proxy_config_path()
        config = load_checked(path)
        embedder = SentenceTransformerEmbedder(config.embedding_model, threads=config.embedding_threads or None)
        ledger = SpendLedger(config.spend.ledger) if config.spend.ledger.enabled else None
        # One set of label bounds for every series, so a tenant is named in all of them or in none.
        bounds = LabelBounds.from_config(config.spend.metrics, tiers=config.tiers)
        runtime = cls(
            config=config,
            metrics=Metrics.create(bounds=bounds),
            embeddings=EmbeddingMemo(embedder),
            guard=build_guard(config.budget, config.redis_url),
            prices=PriceBook(config.spend.self_hosted_prices),
            anomalies=AnomalyDetector(config.spend.anomaly),
            budget_metrics=BudgetMetrics.create(bounds=bounds),
            spend_metrics=SpendMetrics.create(ledger=ledger, bounds=bounds),
            ledger=ledger,
            config_path=path,
        )
        log.info(
            "costroute %s loaded from %s: tiers %s, routing %s (baseline tier %s), cache %s, redis %s",
            __version__,
            path or "embedded defaults",
            " < ".join(config.tiers),
            config.routing.mode,
            config.routing.baseline_tier,
            "on" if config.cache.enabled else "off",
            "configured" if config.redis_url else "not configured (in-process state)",
        )
        if not has_master_key(path):
            log.warning("no master key: the proxy serves unauthenticated callers, so every request is tenant "
                        "'anonymous' and shares one cache scope and one budget. Set general_settings.master_key "
                        "(or LITELLM_MASTER_KEY) and give each team its own key to isolate them")
        log.info(
            "budgets: %s; spend ledger: %s",
            f"{len(config.budget.budgets)} configured" if config.budget.enabled and config.budget.budgets else "none",
            f"PostgreSQL {config.spend.ledger.db_schema}.{config.spend.ledger.table}" if ledger else "off",
        )
        return runtime
