"""Bounded Prometheus label values: a label whose values clients or keys choose (tenant, feature tag) keeps at
most a configured number of them; the rest are reported as ``other``.

Every distinct label value is a series kept in memory for the life of the process and in every ``/metrics``
scrape: 50,000 client-chosen feature tags made a 33 MB process and a 10.8 MB ``/metrics``. So each such label
gets a ``BoundedLabel``: allow-listed values always by name, then the first ``limit`` other distinct values
(first come, so a series never changes name once exported), then ``other``. The metrics that carry such labels
are ``BoundedCounter`` / ``BoundedGauge``, which map values inside ``.labels(...)``, so call sites stay plain
prometheus_client calls and cannot forget the bound.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge
from prometheus_client.metrics import MetricWrapperBase

if TYPE_CHECKING:
    from costroute_plugins.spend.config import MetricLabelsConfig

log = logging.getLogger("costroute")
OTHER = "other"
LabelMapper = Callable[[object], str]  # a label value in, the value to export out (a ``BoundedLabel``)
MAX_VALUE_CHARS = 100  # a value is kept whole in every scrape: a client's 10 kB tag would be 10 kB a series


class BoundedLabel:
    """The values of one label: allow-listed ones, plus the first ``limit`` others, by name; the rest ``other``.
    Thread-safe (series may be reported from any thread); the first overflow is logged with the setting to
    raise, so an operator learns the bound is reached."""

    def __init__(self, name: str, limit: int, allowed: Iterable[str] = (), setting: str = "") -> None:
        self.name = name
        self.limit = limit
        self.setting = setting
        self._warned = False
        self._allowed = frozenset(value[:MAX_VALUE_CHARS] for value in allowed) | {OTHER}
        self._kept: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        text = str(value)[:MAX_VALUE_CHARS]
        if text in self._allowed or text in self._kept:
            return text
        with self._lock:
            if text in self._kept:
                return text
            if len(self._kept) < self.limit:
                self._kept.add(text)
                return text
            if not self._warned:
                self._warned = True
                log.warning("metrics: more than %d distinct %s values; further ones are reported as %s=%r (raise %s "
                            "or list the values to keep by name)", self.limit, self.name, self.name, OTHER,
                            self.setting or "the bound")
        return OTHER


@dataclass(frozen=True)
class LabelBounds:
    """The bounded labels one proxy process shares across all its metric groups, so a tenant is exported by
    name everywhere or nowhere: ``tenant`` (also the subject of budget gauges), ``feature``, and ``tier`` and
    ``decision``, which come from request metadata and normally take a handful of values."""

    tenant: BoundedLabel
    feature: BoundedLabel
    tier: BoundedLabel
    decision: BoundedLabel

    @classmethod
    def from_config(cls, config: MetricLabelsConfig, tiers: Iterable[str] = ()) -> LabelBounds:
        """``config`` is ``costroute.spend.metrics``; ``tiers`` (the configured tiers) are always kept by name."""
        key = "costroute.spend.metrics"
        return cls(
            tenant=BoundedLabel("tenant", config.max_tenants, config.tenants, f"{key}.max_tenants"),
            feature=BoundedLabel("feature", config.max_features, config.features, f"{key}.max_features"),
            tier=BoundedLabel("tier", config.max_values, tiers, f"{key}.max_values"),
            decision=BoundedLabel("decision", config.max_values, (), f"{key}.max_values"),
        )

    @classmethod
    def default(cls) -> LabelBounds:
        """The documented defaults, for a metric group built without a config (tests, tools)."""
        # Imported here: the spend package imports its metric group, which imports this module.
        from costroute_plugins.spend.config import MetricLabelsConfig

        return cls.from_config(MetricLabelsConfig())


class _BoundedLabels(MetricWrapperBase):
    """Maps the values of the bounded labels before prometheus_client creates a child series for them."""

    def __init__(self, *args: Any, bounds: Mapping[str, LabelMapper] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bounds = dict(bounds or {})
        unknown = set(self._bounds) - set(self._labelnames)
        if unknown:
            raise ValueError(f"bounds for labels {sorted(unknown)} the metric does not have")

    def labels(self, *values: Any, **named: Any) -> Any:
        if named:
            return super().labels(**{name: self._bound(name, value) for name, value in named.items()})
        if len(values) != len(self._labelnames):  # let prometheus_client say what is wrong
            return super().labels(*values)
        return super().labels(*map(self._bound, self._labelnames, values))

    def _bound(self, name: str, value: object) -> object:
        bound = self._bounds.get(name)
        return bound(value) if bound is not None else value


class BoundedCounter(_BoundedLabels, Counter):
    """A ``Counter`` whose ``bounds`` labels keep a bounded set of values (``BoundedLabel``)."""


class BoundedGauge(_BoundedLabels, Gauge):
    """A ``Gauge`` whose ``bounds`` labels keep a bounded set of values (``BoundedLabel``). Its ``other`` series
    holds the value last set for any value beyond the bound."""
