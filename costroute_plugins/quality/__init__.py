"""Quality audits, independent of LiteLLM: what routing and the cache cost in quality, measured on live traffic.

After a client has its answer, a sample of requests is audited off its latency path (the proxy adapter does the
calls; nothing here does I/O except through the store it is given):

    decision = AuditSampler(config, tiers).decide(request_id, served_tier=..., cache_hit=..., holdout=...,
                                                  messages=...)                       # sampler.py
    check, hold = await governor.reserve(estimated_usd, savings_today_usd)            # spend_cap.py
    ... fetch the reference answer from decision.reference_tier ...
    grading = Grading.for_audit(decision.kind, config.method, messages, served, reference)   # judge.py
    verdict = grading.verdict([reply for each call in grading.calls])               # None: no verdict
    audit = Audit(...); await governor.settle(hold, audit.cost_usd)                   # audit.py
    estimates.record(audit.outcome()); store(audit.storable(admission.secret_in))     # estimate.py, PII gate
"""

from costroute_plugins.quality.audit import Audit, AuditOutcome, first_secret
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.estimate import (
    CACHE_HITS,
    OTHER_TENANTS,
    Estimate,
    KeyStats,
    QualityEstimates,
    QualityKey,
    Standing,
)
from costroute_plugins.quality.judge import Grading, JudgeCall, Verdict, parse_choice, parse_rating
from costroute_plugins.quality.sampler import AuditKind, AuditSampler, SampleDecision
from costroute_plugins.quality.spend_cap import AuditReservation, AuditSpendGovernor, SpendCheck, check_spend

__all__ = [
    "CACHE_HITS", "OTHER_TENANTS", "Audit", "AuditKind", "AuditOutcome", "AuditReservation", "AuditSampler",
    "AuditSpendGovernor", "Estimate", "Grading", "JudgeCall", "KeyStats", "QualityConfig", "QualityEstimates",
    "QualityKey", "SampleDecision", "SpendCheck", "Standing", "Verdict", "check_spend", "first_secret",
    "parse_choice", "parse_rating",
]
