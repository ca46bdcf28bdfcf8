"""Every Prometheus series costroute exports, with its label names, and the PromQL patterns that find them in a
query: what the Grafana dashboard and the alert rules are checked against, so neither can chart or alert on a
series (or a label) that no code registers.

Names are the ones a scrape shows: counters end in ``_total``, histograms are ``_bucket`` (with ``le``),
``_sum`` and ``_count``. LiteLLM's own series (``litellm_*``) are read from the ``PrometheusLogger`` of the
installed LiteLLM, built in a child process so its collectors stay out of the test process's default registry.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from costroute_plugins.budget import BudgetMetrics
from costroute_plugins.cache.shadow import ShadowLookups
from costroute_plugins.metrics import Metrics
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.spend import LedgerConfig, SpendLedger, SpendMetrics
from costroute_plugins.vllm_affinity.metrics import AffinityMetrics

SERIES = re.compile(r"\bcostroute_[a-z_]+\b")
GROUPING = re.compile(r"\bby \(([^)]*)\)")
SELECTOR = re.compile(r"\b(costroute_[a-z_]+)\{([^}]*)\}")

# What a scrape shows of each kind of metric, after its name.
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count")}
REPO = Path(__file__).resolve().parents[2]


def series_of(metrics: Iterable[MetricWrapperBase]) -> dict[str, set[str]]:
    """Scraped series name -> label names, for metrics that may have no child series yet."""
    series: dict[str, set[str]] = {}
    for metric in metrics:
        for suffix in SUFFIXES[metric._type]:
            series[metric._name + suffix] = set(metric._labelnames) | ({"le"} if suffix == "_bucket" else set())
    return series


def _metrics_of(group: object) -> Iterator[MetricWrapperBase]:
    """The metrics of a metric group (a dataclass), nested groups included (``Metrics.stages``)."""
    assert is_dataclass(group)
    for item in fields(group):
        value = getattr(group, item.name)
        if isinstance(value, MetricWrapperBase):
            yield value
        elif is_dataclass(value):
            yield from _metrics_of(value)


def exported_series(tmp_path: Path) -> dict[str, set[str]]:
    """Every series costroute registers, each metric group built on a private registry -> its label names."""
    registry = CollectorRegistry()
    ledger = SpendLedger(LedgerConfig(enabled=True, dsn="postgresql://unused", spool_path=str(tmp_path / "spool")))
    groups = (Metrics.create(registry), BudgetMetrics.create(registry), SpendMetrics.create(registry, ledger),
              QualityMetrics.create(registry), AffinityMetrics.create(registry), ShadowLookups.create(registry))
    series = series_of(metric for group in groups for metric in _metrics_of(group))
    for family in registry.collect():  # the ledger's health series, read at scrape time
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                series.setdefault(sample.name, set()).update(sample.labels)
    return series


_LITELLM_SERIES = """
import json
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from litellm.integrations.prometheus import PrometheusLogger
from tests.support.exported_series import series_of

PrometheusLogger()
metrics = [c for c in list(REGISTRY._collector_to_names) if isinstance(c, MetricWrapperBase)]
print(json.dumps({name: sorted(labels) for name, labels in series_of(metrics).items()
                  if name.startswith("litellm_")}))
"""


def litellm_series() -> dict[str, set[str]]:
    """Every ``litellm_*`` series the installed LiteLLM's Prometheus callback registers -> its label names."""
    done = subprocess.run([sys.executable, "-c", _LITELLM_SERIES], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    return {name: set(labels) for name, labels in json.loads(done.stdout.splitlines()[-1]).items()}


# PromQL: what is not a metric name (strings, label matchers, ranges, grouping clauses), then names that are not
# followed by "(" (functions, aggregations) and are not keywords.
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_NOT_NAMES = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan"}
_SELECTOR = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression reads, whatever its prefix: ``rate(a_total{x="y"}[5m]) / b`` ->
    {a_total, b}."""
    bare = _NOT_NAMES.sub(" ", _STRINGS.sub('""', expr))
    return {name for name in _NAME.findall(bare) if name.lower() not in _KEYWORDS}


def selectors(expr: str) -> list[tuple[str, str]]:
    """``(metric name, matchers)`` of every selector with label matchers in a PromQL expression."""
    return _SELECTOR.findall(expr)


def selector_labels(matchers: str) -> set[str]:
    """The label names of a selector's matchers: ``a="x", b=~"y|z"`` -> {a, b}."""
    return {re.split(r"=~|!~|!=|=", matcher)[0].strip() for matcher in matchers.split(",")}
