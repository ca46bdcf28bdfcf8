"""Running quality estimates per tier, per tenant and for cache hits, with confidence intervals.

What is estimated, per key:
- ``relative`` quality: mean served rating over mean reference (top-tier) rating, from single-graded audits. A
  ratio of means, not a mean of per-audit ratios: it is the measure the router is calibrated on and the replay
  reports (mean served score over mean top-tier score), it weighs hard prompts by how much quality is at stake,
  and it does not blow up on a reference rated low. It may exceed 1 (a cheaper tier rated higher). Interval: the
  delta method's normal approximation for a ratio estimator.
- ``as_good`` rate: the share of audits where the served answer was rated no lower than the reference, or not
  beaten in both pairwise orders. It is the quality measure under ``method: pairwise``. Interval: Wilson's score
  interval, which stays inside [0, 1] and is usable near 0 and 1, where the plain normal interval is not.
- ``wrong_hit`` rate (cache hits): the share of single-graded cache audits whose cached answer fails the
  question while the fresh one does not (``Verdict.wrong_answer``). Wilson interval.

Both intervals are large-sample approximations (normal quantile, not Student's t); ``min_audits`` (default 20)
keeps estimates from being reported before they mean something.

Memory is bounded: each key keeps running sums (count, sums, sums of squares and products), never a list, and
tenants beyond ``max_tenants`` share one "other" key: a new tenant takes the place of the tenant with the fewest
audits, whose sums move to "other", so the busy tenants keep their own estimates. Tiers and the cache are few by
configuration. Every field is a sum, so the state adds up across replicas (Redis ``HINCRBYFLOAT``) and across
restarts; ``to_dict`` gives it as JSON-ready data with a schema version, ``from_dict`` reads it back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist
from typing import Any, Literal, NamedTuple

from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import JudgeMethod, QualityConfig
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.quality.sampler import AuditKind

SCHEMA_VERSION = 1
Scope = Literal["tier", "tenant", "cache"]
Measure = Literal["relative", "as_good", "wrong_hit"]
# Where an estimate stands against the quality target less ``alert_drop`` (the floor): ``below``, its upper
# bound is under the floor (the audits show the drop); ``at_risk``, its lower bound is (they cannot rule it out);
# ``ok``, neither; ``unknown``, fewer than ``min_audits`` judged audits.
Standing = Literal["unknown", "ok", "at_risk", "below"]
_SCOPES: tuple[Scope, ...] = ("tier", "tenant", "cache")


class QualityKey(NamedTuple):
    """What an estimate is about; ``str()`` gives ``scope:name`` (``tier:cheap``, ``tenant:team:acme``)."""

    scope: Scope
    name: str

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> QualityKey:
        scope, _colon, name = text.partition(":")
        for known in _SCOPES:
            if scope == known and name:
                return cls(known, name)
        raise ValueError(f"{text!r} is not a quality key (scope:name with scope tier, tenant or cache)")


CACHE_HITS = QualityKey("cache", "semantic")
OTHER_TENANTS = QualityKey("tenant", "(other)")


@dataclass(frozen=True)
class Estimate:
    """A measure's point estimate and confidence interval over ``count`` judged audits."""

    measure: Measure
    value: float
    lower: float
    upper: float
    count: int


def wilson(successes: float, n: float, z: float, measure: Measure) -> Estimate | None:
    """Wilson's score interval for a share of ``successes`` out of ``n``; None without observations."""
    if n <= 0:
        return None
    share = successes / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(max(share * (1 - share) / n + z * z / (4 * n * n), 0.0))
    # The interval contains the share in exact arithmetic; min/max keep it so after rounding at 0 and 1.
    return Estimate(measure, share, max(min(centre - half, share), 0.0), min(max(centre + half, share), 1.0), int(n))


@dataclass
class KeyStats:
    """Running sums of one key's audits; every field adds up (see the module docstring)."""

    audits: int = 0  # recorded, with or without a verdict
    no_verdict: int = 0  # the judge failed or gave nothing parseable
    rated: int = 0  # single-graded: the sums below
    served_sum: float = 0.0
    reference_sum: float = 0.0
    served_sq: float = 0.0
    reference_sq: float = 0.0
    cross_sum: float = 0.0
    compared: int = 0  # judged, either method
    as_good: int = 0
    hit_checks: int = 0  # single-graded cache audits
    wrong_hits: int = 0

    def add(self, kind: AuditKind, verdict: Verdict | None) -> None:
        self.audits += 1
        if verdict is None:
            self.no_verdict += 1
            return
        self.compared += 1
        self.as_good += verdict.as_good
        served, reference = verdict.served_rating, verdict.reference_rating
        if served is None or reference is None:
            return
        self.rated += 1
        self.served_sum += served
        self.reference_sum += reference
        self.served_sq += served * served
        self.reference_sq += reference * reference
        self.cross_sum += served * reference
        if kind == "cache":
            self.hit_checks += 1
            self.wrong_hits += bool(verdict.wrong_answer)

    def merge(self, other: KeyStats) -> None:
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def relative(self, z: float) -> Estimate | None:
        """Ratio of mean ratings with its delta-method interval; None below 2 ratings or without a reference."""
        n = self.rated
        if n < 2 or self.reference_sum <= 0:
            return None
        ratio = self.served_sum / self.reference_sum
        mean_reference = self.reference_sum / n
        # Sample variance of (served - ratio * reference), from the sums: the ratio estimator's residuals.
        scale = self.served_sq + ratio * ratio * self.reference_sq
        residual_sq = scale - 2 * ratio * self.cross_sum
        if residual_sq <= 1e-12 * scale:  # rounding left of a difference of large sums: no spread at all
            residual_sq = 0.0
        variance = residual_sq / (n - 1)  # the residuals sum to 0 by the choice of ratio
        half = z * math.sqrt(variance / n) / mean_reference
        return Estimate("relative", ratio, max(ratio - half, 0.0), ratio + half, n)

    def as_good_rate(self, z: float) -> Estimate | None:
        return wilson(self.as_good, self.compared, z, "as_good")

    def wrong_hit_rate(self, z: float) -> Estimate | None:
        return wilson(self.wrong_hits, self.hit_checks, z, "wrong_hit")

    @classmethod
    def from_dict(cls, data: Any) -> KeyStats:
        names = {field.name: field.type for field in fields(cls)}
        if not isinstance(data, dict) or set(data) != set(names):
            raise ValueError(f"quality stats need exactly the fields {sorted(names)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            whole = names[name] == "int"
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or \
                    (whole and value != int(value)):
                raise ValueError(f"quality stats field {name}: {value!r} is not a finite number")
            values[name] = int(value) if whole else float(value)
        stats = cls(**values)
        if min(stats.audits, stats.no_verdict, stats.rated, stats.compared, stats.as_good, stats.hit_checks,
               stats.wrong_hits) < 0:
            raise ValueError("quality stats counts must not be negative")
        return stats


class QualityEstimates:
    """Estimates for every key the audits touched; feed it ``AuditOutcome``s, read ``quality`` and ``standing``."""

    def __init__(self, *, method: JudgeMethod = "single", max_tenants: int = 50, min_audits: int = 20,
                 alert_drop: float = 0.05, confidence: float = 0.95) -> None:
        if not 0.5 <= confidence < 1.0:
            raise ValueError(f"confidence {confidence!r}: use a level from 0.5 to below 1, e.g. 0.95")
        self.method = method
        self.max_tenants = max_tenants
        self.min_audits = min_audits
        self.alert_drop = alert_drop
        self.z = NormalDist().inv_cdf(0.5 + confidence / 2)
        self._stats: dict[QualityKey, KeyStats] = {}

    @classmethod
    def from_config(cls, config: QualityConfig, confidence: float = 0.95) -> QualityEstimates:
        return cls(method=config.method, max_tenants=config.max_tenants, min_audits=config.min_audits,
                   alert_drop=config.alert_drop, confidence=confidence)

    def _tenant_stats(self, tenant: str) -> KeyStats:
        """The tenant's own stats, making room when full: the tenant with the fewest audits moves to 'other'."""
        key = QualityKey("tenant", tenant)
        if key in self._stats:
            return self._stats[key]
        own = [k for k in self._stats if k.scope == "tenant" and k != OTHER_TENANTS]
        if self.max_tenants <= 0:
            return self._stats.setdefault(OTHER_TENANTS, KeyStats())
        if len(own) >= self.max_tenants:
            smallest = min(own, key=lambda k: self._stats[k].audits)
            self._stats.setdefault(OTHER_TENANTS, KeyStats()).merge(self._stats.pop(smallest))
        return self._stats.setdefault(key, KeyStats())

    def record(self, outcome: AuditOutcome) -> None:
        """Count one finished audit under its tenant, and its tier (routed) or the cache (cache hits). A shadow-mode
        audit counts for the cache only: its tenant got the fresh answer, not the graded cached one."""
        touched = [] if outcome.shadow else [self._tenant_stats(outcome.tenant)]
        if outcome.kind == "cache":
            touched.append(self._stats.setdefault(CACHE_HITS, KeyStats()))
        elif outcome.served_tier is not None:
            touched.append(self._stats.setdefault(QualityKey("tier", outcome.served_tier), KeyStats()))
        for stats in touched:
            stats.add(outcome.kind, outcome.verdict)

    def keys(self) -> list[QualityKey]:
        return list(self._stats)

    def stats(self, key: QualityKey) -> KeyStats | None:
        """The key's raw sums (counts of audits without a verdict included), reported or not."""
        return self._stats.get(key)

    def quality(self, key: QualityKey) -> Estimate | None:
        """The key's quality under the configured method (``relative`` for single, ``as_good`` for pairwise);
        None until ``min_audits`` audits were judged."""
        stats = self._stats.get(key)
        if stats is None or stats.compared < self.min_audits:
            return None
        return stats.relative(self.z) if self.method == "single" else stats.as_good_rate(self.z)

    def wrong_hit_rate(self, key: QualityKey = CACHE_HITS) -> Estimate | None:
        """Share of judged cache hits that answered another question; None until ``min_audits`` were judged."""
        stats = self._stats.get(key)
        if stats is None or stats.hit_checks < self.min_audits:
            return None
        return stats.wrong_hit_rate(self.z)

    def standing(self, key: QualityKey, target: float) -> Standing:
        """Where the key's quality stands against ``target - alert_drop`` (see ``Standing``)."""
        estimate = self.quality(key)
        if estimate is None:
            return "unknown"
        floor = target - self.alert_drop
        if estimate.upper < floor:
            return "below"
        return "at_risk" if estimate.lower < floor else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "keys": {str(key): asdict(stats) for key, stats in self._stats.items()}}

    def load(self, data: Any) -> None:
        """Add the sums of a ``to_dict`` document (another replica's, or this one's before a restart); a document
        of another schema version, or malformed, raises ValueError and adds nothing."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION or not isinstance(data.get("keys"), dict):
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"quality estimates: schema {found!r}, this version reads schema {SCHEMA_VERSION}")
        parsed = [(QualityKey.parse(key), KeyStats.from_dict(stats)) for key, stats in data["keys"].items()]
        for key, stats in parsed:
            target = self._tenant_stats(key.name) if key.scope == "tenant" and key != OTHER_TENANTS else \
                self._stats.setdefault(key, KeyStats())
            target.merge(stats)
