"""Micro-batching of embeddings: the texts of concurrent requests go through the model together.

A proxy embeds one short prompt per request, many requests at a time. One model call per text pays the model's
fixed cost every time and keeps small matrix products inefficient; one call for several texts is several times
cheaper per text (all-MiniLM-L6-v2 on one core: a short prompt costs about 2.5x less in a batch of 16 than alone).

One worker thread does the embedding. When it becomes free it takes every text waiting (up to ``max_batch``), so
nothing waits for a batch to fill: at low load a text is embedded alone and at once, under load the queue that
builds while the model runs becomes the next batch. Texts of very different lengths are embedded in separate
calls, because a call pads every text to its longest one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

#: A model call: texts in, one unit-length row per text out.
EmbedFunction = Callable[[Sequence[str]], np.ndarray]


def length_groups(texts: Sequence[str], spread: float = 2.0) -> list[list[int]]:
    """Indices of ``texts`` grouped so that within a group the longest text is at most ``spread`` times the
    shortest (in characters, a stand-in for tokens): padding then wastes at most about half of a call."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    groups: list[list[int]] = []
    for index in order:
        if groups and len(texts[index]) <= spread * max(len(texts[groups[-1][0]]), 16):
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


class EmbeddingBatcher:
    """``submit(text)`` returns a future of the text's vector; a worker thread embeds waiting texts together."""

    def __init__(self, embed: EmbedFunction, max_batch: int = 16, name: str = "costroute-embedding") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.embed = embed
        self.max_batch = max_batch
        self.name = name
        self._waiting: list[tuple[str, Future[np.ndarray]]] = []
        self._ready = threading.Condition()
        self._worker: threading.Thread | None = None
        #: Model calls and texts embedded so far (what batching saved shows as texts / calls).
        self.calls = 0
        self.texts = 0

    def submit(self, text: str) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        with self._ready:
            self._waiting.append((text, future))
            if self._worker is None:  # started on first use: a process that never embeds keeps no thread
                self._worker = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._worker.start()
            self._ready.notify()
        return future

    def _take(self) -> list[tuple[str, Future[np.ndarray]]]:
        with self._ready:
            while not self._waiting:
                self._ready.wait()
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
        # A caller that gave up (its request timed out) no longer needs its text embedded.
        return [(text, future) for text, future in batch if future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while True:
            batch = self._take()
            unique = list(dict.fromkeys(text for text, _ in batch))  # the same prompt twice is embedded once
            vectors: dict[str, np.ndarray] = {}
            try:
                for group in length_groups(unique):
                    texts = [unique[i] for i in group]
                    rows = self.embed(texts)
                    self.calls += 1
                    self.texts += len(texts)
                    vectors.update((text, np.array(row, dtype=np.float32)) for text, row in zip(texts, rows))
            except BaseException as error:  # every caller of this batch sees the model's failure
                for text, future in batch:
                    if text in vectors:
                        future.set_result(vectors[text])
                    else:
                        future.set_exception(error)
                continue
            for text, future in batch:
                future.set_result(vectors[text])
