"""Scoring a replay: what was spent and what quality was served, against always-premium.

- Cost: each request's cost is the proxy's own figure (spend-log ``response_cost``, else the
  ``x-litellm-response-cost`` header, else the served tier's prices times the usage). The always-premium
  counterfactual prices each request's prompt tokens and premium's answer length at the premium tier's rates.
- Quality: each answer names the question and tier that produced it (stub marker). It scores that tier's
  recorded score when the question is the request's own, else 0 (a cache hit on a non-duplicate). Quality is
  mean served score over mean premium score; quality loss is its shortfall in percent.
- Saving split (they add up to always-premium minus actual): ``cache`` = a hit's counterfactual minus its cost;
  ``budget`` = for requests a budget pushed below the tier the router would have picked unconstrained, the cost
  of that tier minus the actual cost (and refused requests' counterfactual); ``routing`` = everything else.
- Quality loss split by cause, in points of the loss percentage (they add up to ``loss_pct``), so a reader sees
  which plugin to improve: ``wrong_cache_hit`` (a hit served another question's answer), ``cached_cheaper_answer``
  (a right hit whose stored answer came from a cheaper tier: the original's routing, repeated), ``routed_cheaper``
  (served by a cheaper tier, the router's choice), ``budget_downgrade`` (the tier the router would have chosen
  unconstrained minus the tier served), ``failed``. A cheaper tier can beat premium on a prompt, so a cause can
  be negative. The same loss is also split by slice: prompts with recorded outcomes, and pair questions, whose
  scores are not their own (``recipe.py``), so routing them shows no skill either way.
- Cache recall on re-asked questions: a request whose tenant sent the same prompt before could have been served
  from the cache; each one that was not is counted by why (``misses.py``), and the counts add up to them.
- Windows: quality and the top tier's share per ``window`` requests in arrival order, with the quality loop's
  mean shift over the window's routed requests: whether a loop brought the loss inside its target, and when.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from costroute_plugins.percentile import percentile
from costroute_plugins.replay.client import ProxyReply
from costroute_plugins.replay.misses import Reask
from costroute_plugins.replay.workload import Request, has_recorded_outcome
from costroute_plugins.stub.outcomes import parse_marker, qid_tag

Rates = Mapping[str, tuple[float, float]]  # tier -> (USD per prompt token, USD per completion token)


@dataclass(frozen=True)
class Scored:
    """One request after scoring: where it was served, its cost, its counterfactual, its quality, its saving."""

    n: int
    tenant: str
    kind: str
    stream: bool
    served_by: str  # cache | <tier> | failed
    cache_status: str | None  # x-costroute-cache: hit | miss | bypass
    cache_similarity: float | None  # of the entry a hit was served from: tells a wrong hit's closeness
    cost_usd: float
    cost_source: str
    premium_usd: float
    score: float
    premium_score: float
    answer_qid: str | None
    answer_tier: str | None  # the tier that wrote the answer (for a hit: the original request's tier)
    saving_to: str  # cache | routing | budget
    latency_s: float
    ttft_s: float | None
    budget_state: str | None
    router_fallback: str | None  # why LiteLLM served its fallback tier instead of the classifier's (e.g. timeout)
    sent_s: float = 0.0  # seconds from the replay's start to sending it
    first_ask: int | None = None  # a re-asked request: the first request of its tenant with the same prompt
    repeat_miss: str | None = None  # a re-asked request the cache did not serve: why, as a label to count
    repeat_miss_detail: str | None = None  # ... and the facts behind the label (the proxy's bypass reason, times)
    route_score: float | None = None  # the router's score (spend-log payload) when it routed the request
    route_mode: str | None = None  # enforce | holdout | shadow, as the router recorded it
    route_shift: float | None = None  # the quality loop's shift the router applied (0 when none; None: not routed)


def cost_at(rates: Rates, tier: str, request: Request) -> float:
    prompt_rate, completion_rate = rates[tier]
    return request.prompt_tokens * prompt_rate + request.answer_tokens[tier] * completion_rate


def _cost(served: ProxyReply, capture: Mapping[str, Any] | None, rates: Rates, tier: str) -> tuple[float, str]:
    if capture is not None and capture.get("response_cost") is not None:
        return float(capture["response_cost"]), "spend-log"
    if "x-litellm-response-cost" in served.headers:
        try:
            return float(served.headers["x-litellm-response-cost"]), "header"
        except ValueError:
            pass
    if tier in rates and served.usage:
        prompt_rate, completion_rate = rates[tier]
        return (served.usage.get("prompt_tokens", 0) * prompt_rate
                + served.usage.get("completion_tokens", 0) * completion_rate), "usage"
    return 0.0, "none"


def score_request(request: Request, served: ProxyReply, capture: Mapping[str, Any] | None, rates: Rates,
                  premium: str, unconstrained: Mapping[int, str], qids: Mapping[str, str]) -> Scored:
    """``qids`` maps the answers' qid tags back to question ids (those of the workload)."""
    capture = capture or {}
    fields = capture.get("costroute") or {}
    premium_usd = cost_at(rates, premium, request)
    common: dict[str, Any] = {
        "n": request.n, "tenant": request.tenant, "kind": request.kind, "stream": request.stream,
        "premium_score": request.scores[premium], "latency_s": served.latency_s, "ttft_s": served.ttft_s,
        "budget_state": fields.get("costroute_budget_state"), "sent_s": served.sent_s}
    if served.status != 200:
        return Scored(**common, served_by="failed", cache_status=None, cache_similarity=None, cost_usd=0.0,
                      cost_source="none", premium_usd=premium_usd, score=0.0, answer_qid=None, answer_tier=None,
                      saving_to="budget" if served.status in (403, 429) else "routing", router_fallback=None)
    hit = served.headers.get("x-costroute-cache") == "hit" or bool(capture.get("cache_hit"))
    tier = served.headers.get("x-costroute-tier") or str(capture.get("model_group") or "unknown")
    served_by = "cache" if hit else tier
    cost, source = _cost(served, capture or None, rates, tier)
    marker = parse_marker(served.text)
    score = marker[2] if marker is not None and marker[0] == qid_tag(request.qid) else 0.0
    answer_qid = qids.get(marker[0], marker[0]) if marker is not None else None
    saving_to = "cache" if hit else "routing"
    if not hit and request.n in unconstrained and unconstrained[request.n] != tier:
        saving_to = "budget"
    similarity = served.headers.get("x-costroute-cache-similarity")
    return Scored(**common, served_by=served_by, cache_status=served.headers.get("x-costroute-cache"),
                  cache_similarity=float(similarity) if similarity else None, cost_usd=cost, cost_source=source,
                  premium_usd=premium_usd, score=score, answer_qid=answer_qid,
                  answer_tier=marker[1] if marker is not None else None, saving_to=saving_to,
                  router_fallback=capture.get("router_failure"), **_routing_fields(fields))


def _routing_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the router recorded in the spend-log payload: its score (the sweep re-routes by it), mode and the
    loop's shift (only written when non-zero, so a routed request without it had shift 0)."""
    score = fields.get("costroute_route_score")
    if score is None:
        return {}
    return {"route_score": float(score), "route_mode": fields.get("costroute_route_mode"),
            "route_shift": float(fields.get("costroute_route_shift") or 0.0)}


LOSS_CAUSES = ("wrong_cache_hit", "cached_cheaper_answer", "routed_cheaper", "budget_downgrade", "failed")


def _loss_by_cause(request: Request, s: Scored, unconstrained: Mapping[int, str]) -> dict[str, float]:
    """One request's score shortfall against premium, split by what caused it (sums to premium - served)."""
    shortfall = s.premium_score - s.score
    if s.served_by == "failed":
        return {"failed": shortfall}
    if s.served_by == "cache":
        return {"cached_cheaper_answer" if s.answer_qid == request.qid else "wrong_cache_hit": shortfall}
    if s.saving_to == "budget" and request.n in unconstrained:
        routed = request.scores[unconstrained[request.n]]
        return {"routed_cheaper": s.premium_score - routed, "budget_downgrade": routed - s.score}
    return {"routed_cheaper": shortfall}


def quality_loss_split(requests: Sequence[Request], scored: Sequence[Scored],
                       unconstrained: Mapping[int, str]) -> dict[str, Any]:
    """The loss percentage split by cause and by slice (recorded outcomes vs pair questions), in points."""
    by_n = {request.n: request for request in requests}
    premium_total = sum(s.premium_score for s in scored)
    scale = 100 / premium_total if premium_total else 0.0
    causes = dict.fromkeys(LOSS_CAUSES, 0.0)
    slices = {"recorded_outcomes": dict(causes), "pair_questions": dict(causes)}
    counts = {"recorded_outcomes": 0, "pair_questions": 0}
    for s in scored:
        request = by_n[s.n]
        name = "recorded_outcomes" if has_recorded_outcome(request) else "pair_questions"
        counts[name] += 1
        for cause, loss in _loss_by_cause(request, s, unconstrained).items():
            causes[cause] += loss * scale
            slices[name][cause] += loss * scale
    return {
        "loss_points_by_cause": {k: round(v, 2) for k, v in causes.items()},
        "loss_points_by_slice": {name: {"requests": counts[name], "loss_points": round(sum(part.values()), 2),
                                        **{k: round(v, 2) for k, v in part.items()}}
                                 for name, part in slices.items()},
    }


def with_reask(s: Scored, reask: Reask | None) -> Scored:
    """A scored request with what ``misses.reasked`` found when it was re-asked (unchanged when it was not)."""
    if reask is None:
        return s
    miss = reask.miss
    return replace(s, first_ask=reask.first, repeat_miss=miss.label if miss else None,
                   repeat_miss_detail=miss.detail if miss else None)


def repeat_recall(scored: Sequence[Scored]) -> dict[str, Any]:
    """Re-asked requests, how many the cache served, and the others counted by why, most frequent first."""
    reasked = [s for s in scored if s.first_ask is not None]
    misses = Counter(s.repeat_miss for s in reasked if s.served_by != "cache")
    return {"reasked": len(reasked), "reasked_hits": len(reasked) - misses.total(),
            "repeat_misses": misses.total(), "repeat_misses_by_reason": dict(misses.most_common())}


WINDOW = 250


def windows(scored: Sequence[Scored], top_tier: str, size: int = WINDOW) -> list[dict[str, Any]]:
    """Quality (served over premium score), the top tier's share and the loop's mean shift per ``size``
    requests in arrival order (request numbers ``first``..``last``); a last, shorter window keeps the rest."""
    ordered = sorted(scored, key=lambda s: s.n)
    result = []
    for start in range(0, len(ordered), max(1, size)):
        part = ordered[start:start + max(1, size)]
        premium = sum(s.premium_score for s in part)
        shifts = [s.route_shift for s in part if s.route_shift is not None]
        result.append({"first": part[0].n, "last": part[-1].n, "requests": len(part),
                       "quality": round(sum(s.score for s in part) / premium, 4) if premium else 1.0,
                       "top_share": round(sum(s.served_by == top_tier for s in part) / len(part), 4),
                       "cache_share": round(sum(s.served_by == "cache" for s in part) / len(part), 4),
                       "shift_mean": round(sum(shifts) / len(shifts), 4) if shifts else None})
    return result


def routed_quality(scored: Sequence[Scored]) -> float | None:
    """True quality of the fresh answers alone (no cache hits, no failures): what the proxy's own estimate
    (``costroute_quality_overall``, routed traffic) measures, so the two compare like for like."""
    fresh = [s for s in scored if s.served_by not in ("cache", "failed")]
    premium = sum(s.premium_score for s in fresh)
    return round(sum(s.score for s in fresh) / premium, 4) if premium else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(percentile(values, q / 100), 4) if values else None


def build_report(requests: Sequence[Request], scored: Sequence[Scored], rates: Rates, premium: str,
                 unconstrained: Mapping[int, str], window: int = WINDOW) -> dict[str, Any]:
    by_n = {request.n: request for request in requests}
    actual = sum(s.cost_usd for s in scored)
    baseline = sum(s.premium_usd for s in scored)
    savings = {"cache": 0.0, "routing": 0.0, "budget": 0.0}
    for s in scored:
        if s.saving_to == "budget" and s.served_by != "failed":
            # The router alone would have served the unconstrained tier; the budget saved the rest.
            routed = cost_at(rates, unconstrained[s.n], by_n[s.n])
            savings["routing"] += s.premium_usd - routed
            savings["budget"] += routed - s.cost_usd
        else:
            savings[s.saving_to] += s.premium_usd - s.cost_usd
    served_quality = sum(s.score for s in scored)
    premium_quality = sum(s.premium_score for s in scored)
    quality = served_quality / premium_quality if premium_quality else 1.0
    shares = Counter(s.served_by for s in scored)
    hits = [s for s in scored if s.served_by == "cache"]
    wrong_hits = [s for s in hits if s.answer_qid != by_n[s.n].qid]
    ok = [s.latency_s for s in scored if s.served_by != "failed"]
    streamed = [s.ttft_s for s in scored if s.ttft_s is not None]
    n = len(scored)
    return {
        "requests": n,
        "cost": {
            "actual_usd": round(actual, 6),
            "always_premium_usd": round(baseline, 6),
            "reduction_pct": round(100 * (1 - actual / baseline), 2) if baseline else 0.0,
            "saving_usd": round(baseline - actual, 6),
            "saving_by": {k: round(v, 6) for k, v in savings.items()},
            "saving_share_by": {k: round(v / (baseline - actual), 4) if baseline != actual else 0.0
                                for k, v in savings.items()},
            "sources": dict(Counter(s.cost_source for s in scored)),
        },
        "quality": {
            "served_mean": round(served_quality / n, 4) if n else 0.0,
            "always_premium_mean": round(premium_quality / n, 4) if n else 0.0,
            "relative_to_premium": round(quality, 4),
            "loss_pct": round(100 * (1 - quality), 2),
            "cache_hits": len(hits),
            "cache_hits_wrong_question": len(wrong_hits),
            "unscored_answers": sum(1 for s in scored if s.served_by != "failed" and s.answer_qid is None),
            "routed_relative_to_premium": routed_quality(scored),
            **quality_loss_split(requests, scored, unconstrained),
        },
        "latency_s": {
            "p50": _percentile(ok, 50), "p95": _percentile(ok, 95),
            "streamed_ttft_p50": _percentile(streamed, 50), "streamed_ttft_p95": _percentile(streamed, 95),
            "by_served": {name: {"p50": _percentile(v, 50), "p95": _percentile(v, 95)}
                          for name in sorted(shares) for v in [[s.latency_s for s in scored if s.served_by == name]]},
        },
        "tier_shares": {name: round(count / n, 4) for name, count in sorted(shares.items())},
        "windows": {"size": window, "rows": windows(scored, premium, window)},
        "cache": repeat_recall(scored),
        "by_kind": {kind: {"requests": len(rows), "cache_hit_share": round(sum(r.served_by == "cache" for r in rows)
                                                                          / len(rows), 4),
                           "quality_vs_premium": round(sum(r.score for r in rows) / max(1e-12, sum(
                               r.premium_score for r in rows)), 4)}
                    for kind in ("fresh", "repeat", "pair-a", "pair-b")
                    for rows in [[s for s in scored if s.kind == kind]] if rows},
        "router": {"classifier_fallbacks": sum(1 for s in scored if s.router_fallback),
                   "fallback_reasons": dict(Counter(s.router_fallback for s in scored if s.router_fallback))},
        "budget": {"requests_under_pressure": sum(1 for s in scored if (s.budget_state or "").startswith(("soft",
                                                                                                          "capped"))),
                   "requests_moved_by_budget": sum(1 for s in scored if s.saving_to == "budget"),
                   "failed": shares.get("failed", 0)},
    }


def scored_rows(scored: Sequence[Scored]) -> list[dict[str, Any]]:
    return [asdict(s) for s in scored]
