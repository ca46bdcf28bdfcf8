"""Quality series for Prometheus: audits by outcome, what they spent, and the estimates with their intervals.

Label values are bounded: ``kind`` and ``outcome`` are fixed sets, ``reason`` is the sampler's fixed set, and
``key`` is an estimate key (a tier, ``cache:semantic``, or one of at most ``quality.max_tenants`` tenants plus
``tenant:(other)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from costroute_plugins.quality.estimate import CACHE_HITS, Estimate, QualityEstimates

STANDING_VALUE = {"unknown": -1, "ok": 0, "at_risk": 1, "below": 2}


@dataclass(frozen=True)
class QualityMetrics:
    decisions: Counter
    audits: Counter
    spend_usd: Counter
    estimate: Gauge
    standing: Gauge
    wrong_hit_rate: Gauge
    overall: Gauge
    loop_shift: Gauge
    loop_changes: Counter
    cache_raise: Gauge
    loop_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry = REGISTRY) -> QualityMetrics:
        return cls(
            decisions=Counter("costroute_quality_sampling", "Answers considered for an audit, by the sampler's "
                              "reason (sampled, not_sampled, top_tier, exact_hit, ...)", ["reason"],
                              registry=registry),
            audits=Counter("costroute_quality_audits", "Audits by kind (routed, cache) and outcome (judged, "
                           "no_verdict, failed, capped, store_down, busy)", ["kind", "outcome"], registry=registry),
            spend_usd=Counter("costroute_quality_audit_spend_usd", "USD spent on audits (reference answers and "
                              "judge calls); subtracted from every saving costroute reports", registry=registry),
            estimate=Gauge("costroute_quality_estimate", "Estimated share of the top tier's quality, with the "
                           "bounds of its 95% interval (bound: value, lower, upper), and the judged audits behind "
                           "it (bound: count)", ["key", "bound"], registry=registry),
            standing=Gauge("costroute_quality_standing", "Estimate against quality.target - alert_drop: -1 "
                           "unknown (too few audits), 0 ok, 1 at risk (lower bound below), 2 below (upper bound "
                           "below)", ["key"], registry=registry),
            wrong_hit_rate=Gauge("costroute_quality_wrong_cache_hit_rate", "Share of audited semantic cache hits "
                                 "that answered another question, with its 95% interval", ["bound"],
                                 registry=registry),
            overall=Gauge("costroute_quality_overall", "Estimated share of the top tier's quality that all routed "
                          "answers keep (top-tier answers keep all of it, below-top answers what their audits "
                          "show), shared by every replica: bound value, lower, upper (95%) and count (audits)",
                          ["bound"], registry=registry),
            loop_shift=Gauge("costroute_quality_loop_shift", "Share of routed traffic the quality loop moved up one "
                             "tier at every threshold (0: the offline calibration; negative: moved down)",
                             registry=registry),
            loop_changes=Counter("costroute_quality_loop_changes", "Moves of the quality loop, by direction "
                                 "(tighten, loosen: the routing shift; cache_tighten, cache_loosen: the cache's "
                                 "similarity threshold)", ["direction"], registry=registry),
            cache_raise=Gauge("costroute_quality_loop_cache_similarity_raise", "How far the quality loop raised "
                              "the semantic cache's similarity threshold above the configured one",
                              registry=registry),
            loop_errors=Counter("costroute_quality_loop_errors", "The quality loop's shared state could not be "
                                "read or written (it keeps its last shift)", registry=registry),
        )

    def publish_overall(self, estimate: Estimate | None) -> None:
        """The routed traffic's estimate; only its count until two audits are rated."""
        if estimate is None:
            return
        for bound in ("value", "lower", "upper"):
            self.overall.labels(bound).set(getattr(estimate, bound))
        self.overall.labels("count").set(estimate.count)

    def refresh(self, estimates: QualityEstimates, target: float) -> None:
        """Publish every key's estimate; a key with too few judged audits shows only its count and 'unknown'."""
        for key in estimates.keys():
            label, stats = str(key), estimates.stats(key)
            estimate = estimates.quality(key)
            if estimate is not None:
                for bound in ("value", "lower", "upper"):
                    self.estimate.labels(label, bound).set(getattr(estimate, bound))
            self.estimate.labels(label, "count").set(stats.compared if stats is not None else 0)
            self.standing.labels(label).set(STANDING_VALUE[estimates.standing(key, target)])
        wrong = estimates.wrong_hit_rate(CACHE_HITS)
        if wrong is not None:
            for bound in ("value", "lower", "upper"):
                self.wrong_hit_rate.labels(bound).set(getattr(wrong, bound))
