"""Single-flight in the proxy's cache backend, driven as LiteLLM drives it: identical asks that arrive while the first
is upstream wait for its answer and are served it as a cache hit; when that answer is not stored, or the first ask
fails, they go upstream themselves. (Through the real proxy: ``test_cache_proxy.py``.)"""

from __future__ import annotations

import asyncio
import json

from costroute_plugins.cache.single_flight import Ending
from costroute_plugins.proxy import cache_flights
from costroute_plugins.proxy.cache_backend import CostrouteCacheBackend
from costroute_plugins.proxy.request import STATE_KEY, RequestState
from tests.cache.conftest import BagOfWordsEmbedder
from tests.test_cache_backend import ANSWER, backend_with, request

CAPITAL = "What is the capital of France?"


def backend_and_runtime():
    backend, runtime = backend_with(BagOfWordsEmbedder())
    runtime.cache_loop = None  # no quality loop raising the similarity floor
    return backend, runtime


def state_of(kwargs: dict) -> RequestState:
    return kwargs["metadata"][STATE_KEY]


async def ask_while_first_is_upstream(backend: CostrouteCacheBackend, text: str, followers: int = 5,
                                      team: str = "a") -> tuple[dict, list[asyncio.Task]]:
    """The first ask misses and goes upstream; ``followers`` identical asks arrive meanwhile."""
    first = request(text, team)
    assert await backend.async_get_cache("key", **first) is None
    waiting = [asyncio.create_task(backend.async_get_cache("key", **request(text, team))) for _ in range(followers)]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in waiting)  # they wait for the first answer
    return first, waiting


def single_flight(runtime, outcome: str) -> float:
    return runtime.metrics.cache_single_flight.labels(outcome)._value.get()


async def test_asks_arriving_while_the_first_is_upstream_are_served_its_answer_as_hits():
    backend, runtime = backend_and_runtime()
    first, waiting = await ask_while_first_is_upstream(backend, CAPITAL)

    await backend.async_set_cache("key", {"timestamp": 0, "response": json.dumps(ANSWER)}, **first)
    served = await asyncio.wait_for(asyncio.gather(*waiting), 2)

    assert all(json.loads(found["response"]) == ANSWER for found in served)
    assert single_flight(runtime, "shared") == 5
    assert runtime.metrics.cache_lookups.labels("hit")._value.get() == 5


async def test_when_the_first_answer_may_not_be_stored_the_others_go_upstream_themselves():
    backend, runtime = backend_and_runtime()
    text = "Draft a reply to jane.doe@example.com about her invoice"  # personal data: never stored
    first, waiting = await ask_while_first_is_upstream(backend, text)

    await backend.async_set_cache("key", {"timestamp": 0, "response": json.dumps(ANSWER)}, **first)

    assert await asyncio.wait_for(asyncio.gather(*waiting), 2) == [None] * 5
    assert single_flight(runtime, "not_stored") == 5


async def test_when_the_first_ask_fails_the_others_go_upstream_at_once():
    backend, runtime = backend_and_runtime()
    first, waiting = await ask_while_first_is_upstream(backend, CAPITAL)

    backend.flights.end(state_of(first), Ending.FAILED)  # what the cache plugin's failure hooks do

    assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [None] * 5
    assert single_flight(runtime, "failed") == 5


async def test_an_answer_litellm_does_not_store_releases_the_others_after_a_short_grace(monkeypatch):
    monkeypatch.setattr(cache_flights, "STORE_GRACE_S", 0.1)
    backend, runtime = backend_and_runtime()
    first, waiting = await ask_while_first_is_upstream(backend, CAPITAL)

    backend.flights.answered(state_of(first))  # success event, and no cache write follows

    assert await asyncio.wait_for(asyncio.gather(*waiting), 1) == [None] * 5
    assert single_flight(runtime, "not_stored") == 5


async def test_another_tenant_asking_the_same_prompt_does_not_wait():
    backend, _ = backend_and_runtime()
    await ask_while_first_is_upstream(backend, CAPITAL, followers=1, team="a")

    other = await asyncio.wait_for(backend.async_get_cache("key", **request(CAPITAL, team="b")), 1)

    assert other is None  # a miss: it goes upstream for its own answer


async def test_a_no_store_ask_never_makes_others_wait_for_an_answer_that_will_not_be_stored():
    backend, _ = backend_and_runtime()
    no_store = {**request(CAPITAL), "cache": {"no-store": True}}
    assert await backend.async_get_cache("key", **no_store) is None

    after = await asyncio.wait_for(backend.async_get_cache("key", **request(CAPITAL)), 1)

    assert after is None  # leads its own flight instead of waiting


async def test_single_flight_off_lets_every_ask_go_upstream():
    backend, _ = backend_and_runtime()
    backend.flights = cache_flights.CacheFlights(0, backend.runtime.metrics)

    asks = [backend.async_get_cache("key", **request(CAPITAL)) for _ in range(3)]

    assert await asyncio.wait_for(asyncio.gather(*asks), 1) == [None] * 3
