"""costroute's per-stage time and decision paths (``costroute_plugins/stages.py``): every stage and path is on
``/metrics`` from the start, a stage is timed however it ends, a benchmark reads the same figures a dashboard
shows, and the budget check and the router count the path they took, a decision LiteLLM gave up on included."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from costroute_plugins.budget.decision import BudgetDecision
from costroute_plugins.identity import Identity
from costroute_plugins.proxy.budget_plugin import budget_path
from costroute_plugins.proxy.request import RequestState
from costroute_plugins.stages import DECISION_PATHS, STAGES, StageMetrics, stage_times
from tests.test_classifier_embedding_wait import HeldEmbedder, classifier_with


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_every_stage_and_path_reads_zero_before_any_request():
    registry = CollectorRegistry()
    StageMetrics.create(registry)

    text = scrape(registry)

    assert all(f'costroute_stage_seconds_count{{stage="{stage}"}} 0.0' in text for stage in STAGES)
    assert all(f'costroute_decision_path_total{{path="{path}"}} 0.0' in text for path in DECISION_PATHS)
    assert set(stage_times(text)) == set(STAGES)


def test_a_stage_that_fails_is_timed_too():
    registry = CollectorRegistry()
    stages = StageMetrics.create(registry)

    with pytest.raises(RuntimeError), stages.timed("budget_reservation"):
        raise RuntimeError("the budget store is down")

    assert stage_times(scrape(registry))["budget_reservation"].count == 1


def test_a_scrape_gives_counts_means_and_quantiles_as_prometheus_estimates_them():
    registry = CollectorRegistry()
    stages = StageMetrics.create(registry)
    for _ in range(98):
        stages.observe("cache_lookup", 0.0003)  # the (0.25 ms, 0.5 ms] bucket
    stages.observe("cache_lookup", 1.5)  # the (1 s, 2 s] bucket
    stages.observe("cache_lookup", 5.0)  # past the last bound

    lookup = stage_times(scrape(registry))["cache_lookup"]

    assert lookup.count == 100 and lookup.mean_s == pytest.approx((98 * 0.0003 + 6.5) / 100)
    assert 0.00025 < lookup.quantile(0.5) <= 0.0005
    assert 1.0 < lookup.quantile(0.99) <= 2.0
    assert lookup.quantile(1.0) == 2.0  # histogram_quantile's answer for the +Inf bucket: the last finite bound
    assert np.isnan(stage_times(scrape(registry))["embedding"].quantile(0.5))


def test_a_benchmark_reads_what_two_replicas_observed_during_its_run():
    registries = [CollectorRegistry(), CollectorRegistry()]
    replicas = [StageMetrics.create(registry) for registry in registries]
    before = []
    for stages, registry in zip(replicas, registries, strict=True):
        stages.observe("embedding", 0.2)  # warm-up, before the run
        before.append(stage_times(scrape(registry))["embedding"])
    for stages in replicas:
        stages.observe("embedding", 0.003)

    during = [stage_times(scrape(registry))["embedding"].since(earlier)
              for registry, earlier in zip(registries, before, strict=True)]
    run = during[0].plus(during[1])

    assert run.count == 2 and run.mean_s == pytest.approx(0.003)
    assert 0.0025 < run.quantile(0.99) <= 0.005


@pytest.mark.parametrize(("decision", "path"), [
    (BudgetDecision("allow", "normal"), "budget_under"),
    (BudgetDecision("allow", "exempt"), "budget_under"),
    (BudgetDecision("allow", "soft", pressure=0.4, quality_relaxation=0.1), "budget_soft"),
    (BudgetDecision("downgrade", "capped"), "budget_downgrade"),
    (BudgetDecision("throttle", "refused", retry_after_s=60), "budget_throttle"),
    (BudgetDecision("block", "refused"), "budget_block"),
    (BudgetDecision("allow", "degraded", degraded_reason="ConnectionError: refused"), "budget_fail_open"),
])
def test_a_budget_check_is_counted_by_what_the_request_got(decision: BudgetDecision, path: str):
    assert budget_path(decision) == path


def test_a_decision_litellm_stops_waiting_for_is_counted_as_a_timeout_fallback():
    embedder, registry = HeldEmbedder(), CollectorRegistry()
    classifier, _runtime = classifier_with(embedder, registry)
    classifier.embedding_wait_s = 5.0  # longer than LiteLLM waits below
    state = RequestState(identity=Identity(team="a"), tenant="team:a", route="acompletion")
    context = SimpleNamespace(metadata={"costroute": state},
                              structured_messages=[{"role": "user", "content": "Explain why the sky is blue."}])

    async def as_litellm_asks() -> None:  # LiteLLM's complexity router: asyncio.wait_for(classify, timeout)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(classifier.classify(context), 0.05)

    asyncio.run(as_litellm_asks())
    embedder.release.set()

    text, timed = scrape(registry), stage_times(scrape(registry))
    assert 'costroute_decision_path_total{path="route_fallback_timeout"} 1.0' in text
    assert 'costroute_decision_path_total{path="route_router"} 0.0' in text
    assert timed["classification"].count == 1 and timed["embedding"].count == 1  # each wait, cut short, is timed
    assert state.routing is None  # nothing recorded: LiteLLM serves its fallback_tier
