"""The best fixed routing policy in hindsight, evaluated offline on a replay: what the quality loop competes with.

The loop moves the router's thresholds while traffic flows, on noisy audit evidence. Knowing every request's
recorded per-tier score, a replay can instead ask which *fixed* thresholds would have been cheapest while
keeping ``quality.target``; that is the best the loop could have settled on, and the report puts it beside the
live run.

Policies are parameterised as the controller's are (``routing/shift.py``): a shift ``s`` moves each configured
threshold ``t`` to the score below which ``F(t) - s`` of the run's router scores fall, so ``s`` of the traffic
moves up one tier at every boundary (``s = 0``: the offline calibration; ``s < 0`` moves traffic down, as far as
the loop may loosen). ``F`` is the distribution of the scores the proxy reported in this run
(``costroute_route_score`` of each routed request's spend-log payload), the same histogram the controller keeps.

What the sweep assumes, so each policy is priced and scored like the live run:
- a request the router scored (enforce mode, not held out) gets the policy's tier: the recorded score of that
  tier and the cost of its recorded tokens at its prices. Budgets are left out (a request under budget pressure
  gets the policy's tier too), as are the router's later adjustments (task floors, feedback escalation);
- a cache hit stays a hit at every policy and costs nothing, as live: a hit on another question scores 0; a
  right hit scores what the answer it repeats scores under the policy, the recorded score of the tier the policy
  gives the request that wrote it (the latest earlier fresh answer to the same question from the tier the hit
  served), else its live score;
- everything else (failed and refused requests, budget-forced tiers, LiteLLM's fallback tier, holdout) keeps
  its live outcome and cost.
Quality is then mean served score over mean premium score, over all requests, as the replay reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from costroute_plugins.replay.report import Rates, Scored, cost_at
from costroute_plugins.replay.workload import Request
from costroute_plugins.routing.shift import ScoreDistribution, shifted_thresholds

STEP = 0.01
ASSUMES = ("fixed thresholds moved by a shift s (share of traffic moved up at each tier boundary, on this run's "
           "router scores); requests the router scored get the policy's tier, budgets and the router's later "
           "adjustments left out; cache hits stay hits (cost 0; a right hit scores the policy's tier for the "
           "request it repeats); failed, forced and fallback requests keep their live outcome")


@dataclass(frozen=True)
class Case:
    """One request as the sweep sees it: its recorded outcomes per tier and what the live run did."""

    n: int
    scores: Mapping[str, float]  # recorded score per tier
    costs: Mapping[str, float]  # USD if served by each tier
    premium_score: float
    premium_usd: float
    live_score: float
    live_usd: float
    live_top: bool  # served fresh by the top tier in the live run
    route_score: float | None = None  # the router's score: the policy picks this request's tier
    hit_source: int | None = None  # a right cache hit: the request whose answer it repeats


@dataclass(frozen=True)
class Point:
    """One fixed policy's outcome over the whole run."""

    shift: float
    thresholds: tuple[float, ...]
    quality: float  # mean served score over mean premium score
    cost_usd: float
    reduction_pct: float  # cost below always-premium
    top_share: float  # share of requests served fresh by the top tier


def cases_from(requests: Sequence[Request], scored: Sequence[Scored], rates: Rates, tiers: Sequence[str]) -> list[Case]:
    """The sweep's view of a scored replay (``requests`` and ``scored`` in the same order)."""
    top = tiers[-1]
    fresh: dict[str, list[tuple[int, str | None]]] = {}  # qid -> (n, tier) of the fresh answers so far
    cases = []
    for request, s in zip(requests, scored):
        routed = s.route_score is not None and s.served_by in tiers and s.route_mode in (None, "enforce")
        source = None
        if s.served_by == "cache" and s.answer_qid == request.qid:
            earlier = fresh.get(request.qid, [])
            same_tier = [n for n, tier in earlier if tier == s.answer_tier]
            source = same_tier[-1] if same_tier else None
        if s.served_by in tiers:
            fresh.setdefault(request.qid, []).append((request.n, s.served_by))
        cases.append(Case(
            n=request.n, scores={tier: float(request.scores[tier]) for tier in tiers},
            costs={tier: cost_at(rates, tier, request) for tier in tiers}, premium_score=s.premium_score,
            premium_usd=s.premium_usd, live_score=s.score, live_usd=s.cost_usd, live_top=s.served_by == top,
            route_score=s.route_score if routed else None, hit_source=source))
    return cases


def tier_at(score: float, thresholds: Sequence[float], tiers: Sequence[str]) -> str:
    """The router's rule: the dearest tier whose threshold the score reaches, else the cheapest."""
    for index in range(len(thresholds) - 1, -1, -1):
        if score >= thresholds[index]:
            return tiers[index + 1]
    return tiers[0]


def distribution_of(cases: Sequence[Case]) -> ScoreDistribution:
    """The run's router scores as the controller keeps them (nothing faded: the window holds them all)."""
    scores = [case.route_score for case in cases if case.route_score is not None]
    distribution = ScoreDistribution(window=max(1, len(scores)))
    for score in scores:
        distribution.observe(score)
    return distribution


def evaluate(cases: Sequence[Case], tiers: Sequence[str], thresholds: Sequence[float]) -> tuple[float, float, float]:
    """(served score, cost USD, requests served fresh by the top tier) of the policy ``thresholds``."""
    chosen = {case.n: tier_at(case.route_score, thresholds, tiers) for case in cases if case.route_score is not None}
    served = cost = top = 0.0
    for case in cases:
        if case.n in chosen:
            tier = chosen[case.n]
            served, cost, top = served + case.scores[tier], cost + case.costs[tier], top + (tier == tiers[-1])
        elif case.hit_source is not None and case.hit_source in chosen:
            served, cost = served + case.scores[chosen[case.hit_source]], cost + case.live_usd
        else:
            served, cost, top = served + case.live_score, cost + case.live_usd, top + case.live_top
    return served, cost, top


def point(cases: Sequence[Case], tiers: Sequence[str], thresholds: Sequence[float], shift: float,
          distribution: ScoreDistribution) -> Point:
    moved = shifted_thresholds(thresholds, shift, distribution, min_scores=1)
    served, cost, top = evaluate(cases, tiers, moved)
    premium_score = sum(case.premium_score for case in cases)
    premium_usd = sum(case.premium_usd for case in cases)
    return Point(shift=round(shift, 4), thresholds=tuple(round(t, 4) for t in moved),
                 quality=round(served / premium_score, 4) if premium_score else 1.0, cost_usd=round(cost, 6),
                 reduction_pct=round(100 * (1 - cost / premium_usd), 2) if premium_usd else 0.0,
                 top_share=round(top / len(cases), 4) if cases else 0.0)


def sweep(cases: Sequence[Case], tiers: Sequence[str], thresholds: Sequence[float], target: float,
          lowest: float = 0.0, highest: float = 1.0, step: float = STEP) -> dict[str, Any]:
    """Every shift from ``lowest`` to ``highest`` in ``step``; the cheapest policy whose quality meets ``target``
    (None when none does), and the offline calibration (shift 0) for reference."""
    distribution = distribution_of(cases)
    shifts = [round(s, 4) for s in np.arange(lowest, highest + step / 2, step)]
    points = [point(cases, tiers, thresholds, shift, distribution) for shift in shifts]
    meeting = [p for p in points if p.quality >= target - 1e-9]
    best = min(meeting, key=lambda p: (p.cost_usd, -p.quality)) if meeting else None
    return {
        "target": target, "shifts": [shifts[0], shifts[-1]] if shifts else [], "step": step,
        "scored_requests": sum(1 for case in cases if case.route_score is not None),
        "assumes": ASSUMES,
        "at_calibration": asdict(point(cases, tiers, thresholds, 0.0, distribution)),
        "cheapest_meeting_target": asdict(best) if best is not None else None,
        "curve": [{"shift": p.shift, "quality": p.quality, "reduction_pct": p.reduction_pct} for p in points],
    }
