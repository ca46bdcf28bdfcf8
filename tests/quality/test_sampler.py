"""Which answers are audited: the same decision on every replica, at the configured rate, only where quality
may have been lost."""

from __future__ import annotations

import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.sampler import AuditSampler, eligibility, prompt_chars, unit_hash
from costroute_plugins.routing.policy import in_holdout

TIERS = ("cheap", "balanced", "premium")
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def sampler(**settings_) -> AuditSampler:
    return AuditSampler(QualityConfig(enabled=True, **settings_), TIERS)


def sampled_ids(s: AuditSampler, n: int, **request) -> list[str]:
    request = {"served_tier": "cheap", "cache_hit": None, "holdout": False, "messages": ASK, **request}
    return [rid for rid in (f"req-{i}" for i in range(n)) if s.decide(rid, **request).audit]


@pytest.mark.parametrize(("served_tier", "cache_hit", "holdout", "expected"), [
    ("cheap", None, False, "routed"),
    ("balanced", None, False, "routed"),
    ("premium", None, False, "top_tier"),
    ("premium", None, True, "holdout"),
    ("cheap", "semantic", False, "cache"),
    (None, "semantic", False, "cache"),
    ("cheap", "exact", False, "exact_hit"),
    (None, None, False, "not_routed"),
    ("gpt-4o", None, False, "not_routed"),  # a model the client named: costroute did not route it
])
def test_only_answers_that_may_have_cost_quality_are_eligible(served_tier, cache_hit, holdout, expected):
    assert eligibility(served_tier, TIERS, cache_hit, holdout) == expected


def test_a_sampled_request_gets_the_top_tier_as_reference():
    s = sampler(routed_sample_rate=1.0, cache_sample_rate=1.0)

    routed = s.decide("r1", served_tier="cheap", cache_hit=None, holdout=False, messages=ASK)
    cached = s.decide("r2", served_tier="balanced", cache_hit="semantic", holdout=False, messages=ASK)

    assert (routed.reason, routed.kind, routed.reference_tier) == ("sampled", "routed", "premium")
    assert (cached.reason, cached.kind, cached.reference_tier) == ("sampled", "cache", "premium")


def test_disabled_samples_nothing():
    s = AuditSampler(QualityConfig(routed_sample_rate=1.0), TIERS)

    decision = s.decide("r1", served_tier="cheap", cache_hit=None, holdout=False, messages=ASK)

    assert (decision.audit, decision.reason, decision.kind) == (False, "disabled", None)


def test_a_prompt_over_the_limit_is_not_audited():
    s = sampler(routed_sample_rate=1.0, max_prompt_chars=10)
    long_ask = [{"role": "user", "content": [{"type": "text", "text": "x" * 11}]}]

    assert s.decide("r1", served_tier="cheap", cache_hit=None, holdout=False, messages=long_ask).reason == "too_large"
    assert prompt_chars(long_ask) == 11


def test_every_replica_decides_alike_and_the_salt_changes_the_sample():
    first, second = sampler(routed_sample_rate=0.3), sampler(routed_sample_rate=0.3)
    other_salt = sampler(routed_sample_rate=0.3, sample_salt="another")

    assert sampled_ids(first, 2000) == sampled_ids(second, 2000)
    assert sampled_ids(first, 2000) != sampled_ids(other_salt, 2000)


def test_audited_requests_are_independent_of_held_out_ones():
    ids = [uuid.UUID(int=i).hex for i in range(20_000)]
    audited = {rid for rid in ids if unit_hash(rid, "costroute-audit") < 0.5}
    held_out = {rid for rid in ids if in_holdout(rid, 0.5, "costroute-holdout")}

    both = len(audited & held_out) / len(ids)
    assert abs(both - 0.25) < 0.02  # independent halves overlap on a quarter


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(0.0, 1.0), salt=st.text(min_size=1, max_size=20), cache=st.booleans())
def test_the_sampled_share_converges_to_the_rate(rate, salt, cache):
    n = 4000
    other = 0.5  # both rates 0 is refused as a config that audits nothing
    s = sampler(routed_sample_rate=other if cache else rate, cache_sample_rate=rate if cache else other,
                sample_salt=salt)

    share = len(sampled_ids(s, n, cache_hit="semantic" if cache else None)) / n

    assert abs(share - rate) <= 5 * math.sqrt(rate * (1 - rate) / n) + 1 / n


@given(request_id=st.text(max_size=200), salt=st.text(min_size=1, max_size=50))
def test_the_hash_is_a_number_in_the_unit_interval(request_id, salt):
    assert 0.0 <= unit_hash(request_id, salt) < 1.0
