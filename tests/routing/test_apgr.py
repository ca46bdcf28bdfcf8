"""APGR and CPT as ``routing/apgr.py`` defines them, checked on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from costroute_plugins.routing.apgr import MetricsError, mean_pgr_curve, routing_metrics

# Premium wins on prompts 0 and 1; both models are right on 2 and 3.
Q_CHEAP = np.array([0.0, 0.0, 1.0, 1.0])
Q_PREMIUM = np.array([1.0, 1.0, 1.0, 1.0])


def test_a_perfect_router_recovers_the_gap_as_early_as_possible() -> None:
    result = routing_metrics(np.array([0.9, 0.8, 0.1, 0.2]), Q_CHEAP, Q_PREMIUM)
    # PGR over k/n = 0, .25, .5, .75, 1 is 0, .5, 1, 1, 1: trapezoid area 0.75.
    assert result.apgr == pytest.approx(0.75)
    assert result.cpt50 == pytest.approx(0.25)
    assert result.cpt80 == pytest.approx(0.5)
    assert result.n == 4


def test_a_router_ranking_backwards_scores_below_random() -> None:
    result = routing_metrics(np.array([0.1, 0.2, 0.9, 0.8]), Q_CHEAP, Q_PREMIUM)
    assert result.apgr == pytest.approx(0.25)
    assert result.cpt80 == pytest.approx(1.0)


def test_scoring_everything_alike_is_random_routing_at_about_one_half() -> None:
    rng = np.random.default_rng(7)
    q_cheap = rng.integers(0, 2, 2000).astype(float)
    q_premium = np.maximum(q_cheap, rng.integers(0, 2, 2000))
    result = routing_metrics(np.zeros(2000), q_cheap, q_premium, seeds=10)
    assert result.apgr == pytest.approx(0.5, abs=0.03)
    assert result.cpt50 == pytest.approx(0.5, abs=0.05)


def test_ties_are_broken_randomly_not_by_row_order() -> None:
    # All ties, gains at the front: row order would give APGR 0.75; random tie-breaking averages lower.
    assert routing_metrics(np.zeros(4), Q_CHEAP, Q_PREMIUM, seeds=50).apgr < 0.7


def test_the_curve_for_plots_starts_at_zero_and_ends_at_one() -> None:
    curve = mean_pgr_curve(np.array([0.9, 0.8, 0.1, 0.2]), Q_CHEAP, Q_PREMIUM)
    assert curve[0] == 0.0 and curve[-1] == pytest.approx(1.0) and len(curve) == 5


def test_data_where_premium_is_no_better_is_refused_with_a_reason() -> None:
    with pytest.raises(MetricsError, match="premium model must score higher"):
        routing_metrics(np.zeros(4), Q_PREMIUM, Q_PREMIUM)
