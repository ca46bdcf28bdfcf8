"""A CPU-starved proxy: the router decides before LiteLLM's classifier timeout even when embedding is slow, and
a decision that still comes too late gives way to the baseline tier on costroute's terms, counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from costroute_plugins.config import parse_config
from costroute_plugins.embedding import Embedder, EmbeddingMemo
from costroute_plugins.identity import Identity
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.classifier import RouterClassifierPlugin
from costroute_plugins.proxy.request import RequestState
from costroute_plugins.proxy.router_check import classifier_timeout_ms


class HeldEmbedder(Embedder):
    """Returns a fixed unit vector once released: stands in for a model stuck behind a busy CPU."""

    dim = 384
    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self.release = threading.Event()

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.release.wait(10)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors


def classifier_with(embedder: Embedder, registry: CollectorRegistry | None = None,
                    ) -> tuple[RouterClassifierPlugin, SimpleNamespace]:
    """The router's classifier on a runtime of its own; its series on ``registry`` (a private one if None)."""
    runtime = SimpleNamespace(config=parse_config(None), metrics=Metrics.create(registry or CollectorRegistry()),
                              embeddings=EmbeddingMemo(embedder), feedback=None, config_path=None,
                              warm_embedder=lambda: None, quality_loop=None, second_opinions={})
    return RouterClassifierPlugin(runtime), runtime


def sky_request() -> tuple[RequestState, SimpleNamespace]:
    """Team a's request state and the context LiteLLM hands the classifier for one question."""
    state = RequestState(identity=Identity(team="a"), tenant="team:a", route="acompletion")
    context = SimpleNamespace(metadata={"costroute": state},
                              structured_messages=[{"role": "user", "content": "Explain why the sky is blue."}])
    return state, context


def test_a_late_embedding_gives_a_text_and_structure_decision_within_the_wait_and_still_reaches_the_cache():
    embedder = HeldEmbedder()
    classifier, runtime = classifier_with(embedder)
    classifier.embedding_wait_s = 0.05
    state, context = sky_request()

    started = time.monotonic()
    tier = asyncio.run(classifier.classify(context))
    waited = time.monotonic() - started
    embedder.release.set()

    assert tier in runtime.config.tiers and waited < 1.0
    assert "no embedding" in state.routing.reason
    assert runtime.metrics.plugin_degraded.labels("router", "embedding_late")._value.get() == 1
    vector = runtime.embeddings.vector("team:a", "Explain why the sky is blue.")  # what the cache lookup asks
    assert vector[0] == 1.0


def test_the_wait_is_a_share_of_the_timeout_litellm_gives_the_classifier():
    document = {"model_list": [{"model_name": "auto", "litellm_params": {
        "model": "auto_router/complexity_router",
        "complexity_router_config": {"classifier_type": "custom", "classifier_plugin_timeout_ms": 500,
                                     "classifier_plugin": "costroute_plugins.proxy.plugins.classifier"}}}]}

    assert classifier_timeout_ms(document) == 500
    assert classifier_timeout_ms({"model_list": []}) == 3000  # LiteLLM's default


def test_a_request_costroute_has_no_state_for_is_served_the_baseline_tier():
    classifier, runtime = classifier_with(HeldEmbedder())
    # A client-sent dict under costroute's key is not a state: nothing in a request body can stand in for one.
    forged = SimpleNamespace(metadata={"costroute": {"tenant": "team:vip", "forced_tier": "cheap"}},
                             structured_messages=[{"role": "user", "content": "Hi"}])

    assert asyncio.run(classifier.classify(forged)) == runtime.config.routing.baseline_tier == "premium"
    assert runtime.metrics.plugin_degraded.labels("router", "no_state")._value.get() == 1


def stuck_decision() -> tuple[RouterClassifierPlugin, SimpleNamespace, SimpleNamespace, threading.Event]:
    """A classifier that gives up after 100 ms, whose decision waits in its worker thread until the returned event
    is set (a replica saturated behind busy threads), and a request for it."""
    embedder = HeldEmbedder()
    embedder.release.set()
    classifier, runtime = classifier_with(embedder)
    classifier.decision_wait_s = 0.1
    unstuck = threading.Event()
    decide = classifier._decide

    def queued_behind_busy_threads(*args):
        unstuck.wait(10)
        return decide(*args)

    classifier._decide = queued_behind_busy_threads
    _state, context = sky_request()
    return classifier, runtime, context, unstuck


def test_a_decision_stuck_behind_a_saturated_replica_serves_the_baseline_before_litellm_gives_up():
    classifier, runtime, context, unstuck = stuck_decision()

    async def timed_classify() -> tuple[str, float]:
        started = time.monotonic()
        tier = await classifier.classify(context)
        waited = time.monotonic() - started
        unstuck.set()  # the worker thread finishes its decision; nothing records it
        return tier, waited

    tier, waited = asyncio.run(timed_classify())

    assert tier == runtime.config.routing.baseline_tier and waited < 1.0
    assert runtime.metrics.plugin_degraded.labels("router", "late")._value.get() == 1
    assert runtime.metrics.stages.paths.labels("route_degraded_late")._value.get() == 1


def stall_spanning_both_deadlines(loop: asyncio.AbstractEventLoop) -> None:
    """The event loop stalls from 50 ms to 450 ms, past costroute's give-up (100 ms) and past LiteLLM's own timeout
    (300 ms here), which come due in the same turn of the loop."""
    loop.call_later(0.05, time.sleep, 0.4)


def stall_before_the_first_step(loop: asyncio.AbstractEventLoop) -> None:
    """Work queued before the classifier's first step holds the loop for 350 ms after LiteLLM has started its
    300 ms timeout: costroute's 100 ms were over before its first step."""
    loop.call_soon(time.sleep, 0.35)


@pytest.mark.parametrize("stall", [stall_spanning_both_deadlines, stall_before_the_first_step])
def test_a_saturated_replicas_stalled_loop_still_ends_in_costroutes_baseline_not_litellms_timeout(stall):
    classifier, runtime, context, unstuck = stuck_decision()

    async def litellm_waits_for_the_classifier() -> str:
        stall(asyncio.get_running_loop())
        try:
            return await asyncio.wait_for(classifier.classify(context), 0.3)
        finally:
            unstuck.set()

    tier = asyncio.run(litellm_waits_for_the_classifier())

    assert tier == runtime.config.routing.baseline_tier
    assert runtime.metrics.stages.paths.labels("route_degraded_late")._value.get() == 1
    assert runtime.metrics.stages.paths.labels("route_fallback_timeout")._value.get() == 0


def test_a_caller_that_keeps_classify_for_later_calls_still_gets_the_routers_decision():
    embedder = HeldEmbedder()
    embedder.release.set()
    classifier, runtime = classifier_with(embedder)
    state, context = sky_request()
    classifier.timeout_s, classifier.decision_wait_s = 0.02, 0.015
    classify = classifier.classify  # looked up once, called long after: no stall of the loop lasts this long
    time.sleep(0.25)

    tier = asyncio.run(classify(context))

    assert tier in runtime.config.tiers and state.routing is not None
    assert runtime.metrics.stages.paths.labels("route_degraded_late")._value.get() == 0
