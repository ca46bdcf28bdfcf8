"""The proxy's cache backend, driven as LiteLLM drives it: a failure of one request stays with that request.

Lookups and stores go through ``CostrouteCacheBackend`` exactly as LiteLLM calls them (keyword arguments with the
request's metadata), with an in-process store and a fast stand-in embedder.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
from prometheus_client import CollectorRegistry

from costroute_plugins.cache import MemoryStore, SemanticCache
from costroute_plugins.cache.config import SemanticCacheConfig
from costroute_plugins.config import parse_config
from costroute_plugins.embedding import EmbeddingMemo
from costroute_plugins.identity import Identity
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.cache_backend import CostrouteCacheBackend
from costroute_plugins.proxy.request import STATE_KEY, RequestState
from tests.cache.conftest import BagOfWordsEmbedder

ANSWER = {"id": "x", "object": "chat.completion", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}]}


class FailsOn(BagOfWordsEmbedder):
    """Cannot embed one particular prompt (a model error on odd input), embeds every other one."""

    def __init__(self, poison: str) -> None:
        self.poison = poison

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if any(self.poison in text for text in texts):
            raise RuntimeError("the model could not embed this input")
        return super().embed(texts)


def backend_with(embedder) -> tuple[CostrouteCacheBackend, SimpleNamespace]:
    config = parse_config({"cache": {"enabled": True, "learned_verifier": False}})
    runtime = SimpleNamespace(config=config, metrics=Metrics.create(CollectorRegistry()),
                              embeddings=EmbeddingMemo(embedder), cache_loop=None)
    cache = SemanticCache.from_config(SemanticCacheConfig.parse({"learned_verifier": False}), embedder, MemoryStore())
    return CostrouteCacheBackend(runtime, cache), runtime


def request(text: str, team: str = "a") -> dict:
    state = RequestState(identity=Identity(team=team), tenant=f"team:{team}", route="acompletion")
    return {"messages": [{"role": "user", "content": text}], "model": "premium",
            "metadata": {STATE_KEY: state, "model_group": "premium"}}


def ask(backend: CostrouteCacheBackend, text: str, team: str = "a") -> tuple[dict | None, RequestState]:
    kwargs = request(text, team)
    found = asyncio.run(backend.async_get_cache("key", **kwargs))
    if found is None:
        asyncio.run(backend.async_set_cache("key", {"timestamp": 0, "response": json.dumps(ANSWER)}, **kwargs))
    return found, kwargs["metadata"][STATE_KEY]


def test_one_prompt_the_model_cannot_embed_bypasses_only_itself():
    backend, runtime = backend_with(FailsOn("\u2603"))
    ask(backend, "What is the capital of France?")

    poisoned, state = ask(backend, "What is the capital of \u2603?")
    repeat, _ = ask(backend, "What is the capital of France?")

    assert poisoned is None and state.cache.status == "bypass" and state.cache.reason == "embedding failed"
    assert repeat is not None  # the cache stayed on for everyone else
    assert runtime.metrics.plugin_degraded.labels("cache", "embed")._value.get() >= 1
    assert runtime.metrics.plugin_up.labels("cache")._value.get() == 1


def test_a_request_without_costroutes_state_is_never_looked_up_or_stored():
    backend, runtime = backend_with(BagOfWordsEmbedder())
    ask(backend, "What is the capital of France?", team="a")
    stateless = {"messages": [{"role": "user", "content": "What is the capital of France?"}], "model": "premium",
                 "metadata": {STATE_KEY: {"tenant": "team:a"}, "model_group": "premium"}}

    assert asyncio.run(backend.async_get_cache("key", **stateless)) is None
    assert runtime.metrics.cache_bypasses.labels("no_state")._value.get() == 1


def test_another_team_asking_the_same_question_misses():
    backend, _ = backend_with(BagOfWordsEmbedder())
    ask(backend, "What is the capital of France?", team="a")

    other, _ = ask(backend, "What is the capital of France?", team="b")
    same, _ = ask(backend, "What is the capital of France?", team="a")

    assert other is None and same is not None
