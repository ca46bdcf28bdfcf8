"""What every costroute plugin in one proxy process shares: validated config, metrics, the logger."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field

from costroute_plugins import __version__
from costroute_plugins.config import SECTION, CostrouteConfig, CostrouteConfigError, parse_config, read_document
from costroute_plugins.metrics import Metrics

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


@dataclass
class Runtime:
    config: CostrouteConfig
    metrics: Metrics
    config_path: str | None = None
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def from_proxy(cls) -> Runtime:
        """Load config from the proxy's YAML; a bad section raises here and stops the proxy start."""
        _ensure_log_handler()
        path = proxy_config_path()
        config = load_checked(path)
        runtime = cls(config=config, metrics=Metrics.create(), config_path=path)
        log.info(
            "costroute %s loaded from %s: tiers %s, routing %s (default tier %s), cache %s, redis %s",
            __version__,
            path or "embedded defaults",
            " < ".join(config.tiers),
            config.routing.mode,
            config.routing.default_tier,
            "on" if config.cache.enabled else "off",
            "configured" if config.redis_url else "not configured (in-process state)",
        )
        return runtime
