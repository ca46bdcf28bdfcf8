"""Quality estimates: the right keys, honest intervals, bounded memory, and a state that survives JSON."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import QualityConfig
from costroute_plugins.quality.estimate import (
    CACHE_HITS,
    OTHER_TENANTS,
    KeyStats,
    QualityEstimates,
    QualityKey,
    wilson,
)
from costroute_plugins.quality.judge import Verdict

CHEAP = QualityKey("tier", "cheap")
ACME = QualityKey("tenant", "team:acme")
Z95 = 1.959963984540054
ratings = st.tuples(st.floats(0.0, 10.0), st.floats(1.0, 10.0))


def single(served: float, reference: float) -> Verdict:
    return Verdict("single", served_rating=served, reference_rating=reference)


def outcome(verdict: Verdict | None, *, kind="routed", tier: str | None = "cheap", tenant="team:acme") -> AuditOutcome:
    return AuditOutcome("r", tenant, kind, tier, verdict, 0.01)


def estimates(**settings_) -> QualityEstimates:
    return QualityEstimates(**{"min_audits": 2, **settings_})


def test_a_routed_audit_counts_for_its_tier_and_tenant_a_cache_audit_for_the_cache():
    e = estimates()
    e.record(outcome(single(6, 8)))
    e.record(outcome(single(2, 9), kind="cache", tier="balanced"))

    assert set(e.keys()) == {ACME, CHEAP, CACHE_HITS}
    assert e.stats(ACME).audits == 2 and e.stats(CHEAP).audits == 1 and e.stats(CACHE_HITS).wrong_hits == 1
    assert e.stats(QualityKey("tier", "balanced")) is None  # a cache hit says nothing about routing


def test_relative_quality_is_the_ratio_of_mean_ratings():
    e = estimates()
    for served, reference in [(6, 8), (9, 9), (3, 7), (8, 6)]:
        e.record(outcome(single(served, reference)))

    estimate = e.quality(CHEAP)

    assert estimate.measure == "relative" and estimate.count == 4
    assert estimate.value == pytest.approx(26 / 30)  # not the mean of per-audit ratios (0.8869)
    assert estimate.lower < estimate.value < estimate.upper


def test_nothing_is_reported_before_min_audits_and_failed_judgements_do_not_count():
    e = estimates(min_audits=3)
    e.record(outcome(single(6, 8)))
    e.record(outcome(single(7, 8)))
    e.record(outcome(None))

    assert e.quality(CHEAP) is None and e.standing(CHEAP, 0.95) == "unknown"
    assert (e.stats(CHEAP).audits, e.stats(CHEAP).no_verdict, e.stats(CHEAP).compared) == (3, 1, 2)
    e.record(outcome(single(8, 8)))
    assert e.quality(CHEAP).count == 3


def test_pairwise_quality_is_the_share_at_least_as_good():
    e = estimates(method="pairwise")
    for preference in ["served", "tie", "reference", "tie"]:
        e.record(outcome(Verdict("pairwise", preference=preference)))

    estimate = e.quality(CHEAP)

    assert (estimate.measure, estimate.value, estimate.count) == ("as_good", 0.75, 4)
    assert 0 <= estimate.lower < 0.75 < estimate.upper <= 1


def test_the_wrong_hit_rate_comes_from_cache_audits():
    e = estimates()
    for served in [9, 2, 8, 1, 9]:
        e.record(outcome(single(served, 9), kind="cache"))

    rate = e.wrong_hit_rate()

    assert (rate.measure, rate.value, rate.count) == ("wrong_hit", 0.4, 5)
    assert e.wrong_hit_rate(CHEAP) is None


@pytest.mark.parametrize(("served", "standing"), [(9.0, "ok"), (8.1, "at_risk"), (6.0, "below")])
def test_standing_compares_the_interval_with_the_target_less_the_drop(served, standing):
    e = estimates(alert_drop=0.05)
    rng = random.Random(0)
    for _ in range(200):
        e.record(outcome(single(min(10.0, max(0.0, served + rng.gauss(0, 1))), min(10.0, 9 + rng.gauss(0, 0.5)))))

    assert e.standing(CHEAP, target=0.95) == standing  # the floor is 0.90


def test_tenants_beyond_the_cap_share_one_estimate_and_busy_tenants_keep_theirs():
    e = estimates(max_tenants=3)
    for _ in range(5):
        e.record(outcome(single(7, 8), tenant="team:busy"))
    for number in range(100):
        e.record(outcome(single(7, 8), tenant=f"team:t{number}"))

    tenants = [key for key in e.keys() if key.scope == "tenant"]
    assert len(tenants) == 4 and OTHER_TENANTS in tenants and QualityKey("tenant", "team:busy") in tenants
    assert sum(e.stats(key).audits for key in tenants) == 105  # nothing lost, only pooled


def test_no_tenant_gets_its_own_estimate_with_a_cap_of_zero():
    e = QualityEstimates.from_config(QualityConfig(max_tenants=0))
    e.record(outcome(single(7, 8)))

    assert [key for key in e.keys() if key.scope == "tenant"] == [OTHER_TENANTS]


def test_the_state_survives_json_and_adds_up_across_replicas():
    first, second, both = estimates(), estimates(), estimates()
    rng = random.Random(1)
    for number in range(60):
        record = outcome(single(rng.uniform(1, 10), rng.uniform(1, 10)), kind=rng.choice(["routed", "cache"]),
                         tenant=rng.choice(["team:a", "team:b"]))
        (first if number % 2 else second).record(record)
        both.record(record)

    merged = estimates()
    merged.load(json.loads(json.dumps(first.to_dict())))
    merged.load(json.loads(json.dumps(second.to_dict())))

    assert merged.to_dict()["schema"] == 1
    for key in both.keys():
        got, expected = merged.quality(key), both.quality(key)
        assert (got.value, got.lower, got.upper, got.count) == \
            pytest.approx((expected.value, expected.lower, expected.upper, expected.count))
        assert merged.stats(key).audits == both.stats(key).audits


@pytest.mark.parametrize("document", [
    {"schema": 2, "keys": {}},
    {"keys": {}},
    [],
    {"schema": 1, "keys": {"tier:cheap": {"audits": 1}}},
    {"schema": 1, "keys": {"planet:mars": {}}},
    {"schema": 1, "keys": {"tier:cheap": {**KeyStats().__dict__, "audits": -1}}},
    {"schema": 1, "keys": {"tier:cheap": {**KeyStats().__dict__, "audits": 1.5}}},
    {"schema": 1, "keys": {"tier:cheap": {**KeyStats().__dict__, "served_sum": "NaN"}}},
])
def test_a_document_of_another_schema_or_malformed_is_refused_whole(document):
    e = estimates()

    with pytest.raises(ValueError):
        e.load(document)
    assert e.keys() == []


def test_the_ratio_interval_covers_the_true_ratio_about_as_often_as_it_claims():
    rng = random.Random(7)
    covered, trials = 0, 400
    for _ in range(trials):  # served ~ 6 +- 2, reference ~ 8 +- 1, correlated: true ratio 0.75
        stats = KeyStats()
        for _ in range(50):
            reference = 8 + rng.gauss(0, 1)
            stats.add("routed", single(min(10, max(0, 6 + 0.8 * (reference - 8) + rng.gauss(0, 1.8))),
                                       min(10, max(1, reference))))
        estimate = stats.relative(Z95)
        covered += estimate.lower <= 0.75 <= estimate.upper
    assert 0.90 <= covered / trials <= 0.99


@settings(max_examples=80)
@given(st.lists(ratings, min_size=2, max_size=60), st.integers(2, 5))
def test_the_ratio_interval_contains_the_estimate_and_narrows_with_more_audits(pairs, copies):
    few, many = KeyStats(), KeyStats()
    for served, reference in pairs:
        few.add("routed", single(served, reference))
        for _ in range(copies):
            many.add("routed", single(served, reference))

    small, large = few.relative(Z95), many.relative(Z95)

    assert small.lower <= small.value <= small.upper
    assert large.value == pytest.approx(small.value)
    assert large.upper - large.lower <= small.upper - small.lower + 1e-9


@given(st.integers(0, 500), st.integers(1, 500), st.integers(2, 5))
def test_the_wilson_interval_contains_the_share_and_narrows_with_more_audits(successes, extra, copies):
    n = successes + extra
    small, large = wilson(successes, n, Z95, "as_good"), wilson(successes * copies, n * copies, Z95, "as_good")

    assert 0.0 <= small.lower <= small.value <= small.upper <= 1.0
    assert large.upper - large.lower < small.upper - small.lower
