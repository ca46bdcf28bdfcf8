"""Embeddings in the proxy: concurrent requests' prompts are embedded together, repeated prompts not again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from costroute_plugins.embedding import Embedder, EmbeddingMemo
from costroute_plugins.embedding_batcher import EmbeddingBatcher, length_groups


class RecordingModel(Embedder):
    """Vectors derived from the text; records each call's texts; can be held busy to let a queue build up."""

    dim = 4
    name = "recording"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()
        self.fail_on: str | None = None

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        self.started.set()
        self.release.wait(5)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[len(t), ord(t[0]), 1.0, 0.0] for t in texts], dtype=np.float32)


def expected(text: str) -> list[float]:
    return [len(text), ord(text[0]), 1.0, 0.0]


def busy_then_queue(model: RecordingModel, batcher: EmbeddingBatcher, queued: list[str]):
    """One text keeps the model busy while ``queued`` arrive; returns all futures after the model is released."""
    model.release.clear()
    first = batcher.submit("first prompt")
    assert model.started.wait(5)
    futures = [batcher.submit(text) for text in queued]
    model.release.set()
    return first, futures


def test_a_prompt_arriving_at_an_idle_proxy_is_embedded_at_once_alone():
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed)

    vector = batcher.submit("hello there").result(timeout=5)

    assert vector.tolist() == expected("hello there")
    assert model.calls == [["hello there"]]


def test_prompts_arriving_while_the_model_is_busy_are_embedded_together_in_one_call():
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed, max_batch=16)
    queued = [f"question number {n}" for n in range(6)]

    first, futures = busy_then_queue(model, batcher, queued)

    assert first.result(timeout=5).tolist() == expected("first prompt")
    assert [f.result(timeout=5).tolist() for f in futures] == [expected(t) for t in queued]
    assert model.calls == [["first prompt"], queued]
    assert (batcher.calls, batcher.texts) == (2, 7)


def test_a_batch_never_exceeds_max_batch():
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed, max_batch=4)
    queued = [f"question number {n}" for n in range(10)]

    _, futures = busy_then_queue(model, batcher, queued)

    assert [f.result(timeout=5).tolist() for f in futures] == [expected(t) for t in queued]
    assert [len(call) for call in model.calls] == [1, 4, 4, 2]


def test_the_same_prompt_from_several_requests_is_embedded_once():
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed)

    _, futures = busy_then_queue(model, batcher, ["What is 12 times 12?"] * 3 + ["Name a colour."])

    assert [f.result(timeout=5).tolist() for f in futures][:3] == [expected("What is 12 times 12?")] * 3
    assert sorted(model.calls[1]) == ["Name a colour.", "What is 12 times 12?"]


def test_short_and_long_prompts_go_to_separate_model_calls():
    long = "Derive the Black-Scholes equation from first principles, then solve it for a European call. " * 3
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed)

    _, futures = busy_then_queue(model, batcher, ["Hi, how much is 2+2?", long, "Name three colours."])

    assert [f.result(timeout=5).tolist() for f in futures] == [expected(t) for t in
                                                                ["Hi, how much is 2+2?", long, "Name three colours."]]
    assert [sorted(call) for call in model.calls[1:]] == [["Hi, how much is 2+2?", "Name three colours."], [long]]
    assert length_groups(["a" * 40, "b" * 300, "c" * 70]) == [[0, 2], [1]]


def test_a_model_failure_reaches_the_callers_of_that_batch_and_later_prompts_are_served():
    model = RecordingModel()
    model.fail_on = "bad prompt"
    batcher = EmbeddingBatcher(model.embed)

    _, futures = busy_then_queue(model, batcher, ["bad prompt", "good prompt"])

    for future in futures:
        with pytest.raises(RuntimeError, match="model failed"):
            future.result(timeout=5)
    assert batcher.submit("later prompt").result(timeout=5).tolist() == expected("later prompt")


def test_a_request_that_gave_up_waiting_is_not_embedded():
    model = RecordingModel()
    batcher = EmbeddingBatcher(model.embed)
    model.release.clear()
    batcher.submit("first prompt")
    assert model.started.wait(5)
    abandoned = batcher.submit("abandoned prompt")
    kept = batcher.submit("kept prompt")
    assert abandoned.cancel()
    model.release.set()

    assert kept.result(timeout=5).tolist() == expected("kept prompt")
    assert model.calls == [["first prompt"], ["kept prompt"]]


def test_a_repeated_prompt_of_a_tenant_is_not_embedded_again_but_another_tenants_is():
    model = RecordingModel()
    memo = EmbeddingMemo(model)

    first = memo.vector("team-a", "What is the capital of France?")
    again = asyncio.run(memo.avector("team-a", "What is the capital of France?"))
    other = asyncio.run(memo.avector("team-b", "What is the capital of France?"))

    assert again.tolist() == first.tolist() == other.tolist() == expected("What is the capital of France?")
    assert len(model.calls) == 2
    assert memo.known("team-a", "What is the capital of France?") is not None
    assert memo.known("team-a", "Something never asked") is None


def test_the_memo_keeps_only_the_most_recently_used_prompts():
    model = RecordingModel()
    memo = EmbeddingMemo(model, max_texts=2)
    for text in ("one", "two", "one", "three"):
        memo.vector("t", text)

    assert memo.known("t", "one") is not None and memo.known("t", "three") is not None
    assert memo.known("t", "two") is None


def test_a_router_that_stopped_waiting_still_leaves_the_vector_for_the_cache():
    model = RecordingModel()
    memo = EmbeddingMemo(model)
    model.release.clear()

    async def router_gives_up() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(memo.avector("team-a", "Summarise this report"), timeout=0.05)

    asyncio.run(router_gives_up())
    model.release.set()
    vector = memo.vector("team-a", "Summarise this report")  # the cache lookup of the same request

    assert vector.tolist() == expected("Summarise this report")
    assert model.calls == [["Summarise this report"]]


def test_concurrent_asks_for_the_same_prompt_share_one_computation():
    model = RecordingModel()
    memo = EmbeddingMemo(model)
    model.release.clear()
    busy = memo.batcher.submit("keeps the model busy")
    assert model.started.wait(5)

    async def ask_twice() -> list[np.ndarray]:
        return await asyncio.gather(memo.avector("t", "Same prompt"), memo.avector("t", "Same prompt"))

    async def release_soon() -> list[np.ndarray]:
        asks = asyncio.ensure_future(ask_twice())
        await asyncio.sleep(0.05)
        model.release.set()
        return await asks

    vectors = asyncio.run(release_soon())

    assert busy.result(timeout=5) is not None
    assert [v.tolist() for v in vectors] == [expected("Same prompt")] * 2
    assert model.calls == [["keeps the model busy"], ["Same prompt"]]
