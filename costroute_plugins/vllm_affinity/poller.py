"""Background reads of every replica's /metrics, feeding the ReplicaBook.

One asyncio task per proxy process polls all replicas concurrently; a slow or failing endpoint costs at most
``timeout_s`` and never delays a request (selection only reads the last figures). Connection refused marks the
replica down at once; a timeout, HTTP error or garbage body only lets its figures age until they are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from costroute_plugins.vllm_affinity.replicas import MetricsFormatError, ReplicaBook, WorkerSample

log = logging.getLogger("costroute")


class MetricsPoller:
    def __init__(self, book: ReplicaBook, interval_s: float, timeout_s: float,
                 on_reset: Callable[[str], None] = lambda key: None,
                 after_round: Callable[[], None] = lambda: None,
                 client: httpx.AsyncClient | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.book = book
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.on_reset = on_reset
        self.after_round = after_round
        self.clock = clock
        self._client = client
        self._task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        """Start polling on the running event loop (callbacks are built before LiteLLM has one)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="costroute-affinity-poller")

    async def _run(self) -> None:
        while True:
            started = self.clock()
            try:
                await self.poll_once()
            except Exception:  # never let one bad round stop polling
                log.exception("vllm_affinity: metrics poll round failed")
            await asyncio.sleep(max(0.0, self.interval_s - (self.clock() - started)))

    async def poll_once(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        client = self._client
        replicas = list(self.book.replicas.values())
        await asyncio.gather(*(self._poll(client, replica.key, replica.metrics_url) for replica in replicas))
        self.after_round()

    async def _poll(self, client: httpx.AsyncClient, key: str, url: str) -> None:
        was = self.book.replicas[key].status(self.clock(), self.book.staleness_s)
        try:
            response = await client.get(url, timeout=self.timeout_s)
            response.raise_for_status()
            sample = WorkerSample.from_text(response.text)
        except httpx.ConnectError as error:
            self.book.observe_failure(key, f"connection refused: {error}", refused=True, now=self.clock())
        except (httpx.HTTPError, MetricsFormatError) as error:
            self.book.observe_failure(key, f"{type(error).__name__}: {error}", refused=False, now=self.clock())
        else:
            if self.book.observe_sample(key, sample, self.clock()):
                self.on_reset(key)
        now = self.book.replicas[key].status(self.clock(), self.book.staleness_s)
        if now != was and now in ("down", "stale"):
            log.warning("vllm_affinity: replica %s is %s (%s); %s", key, now, self.book.replicas[key].last_error,
                        "new requests avoid it" if now == "down" else "its load figures are ignored")
        elif now != was and was in ("down", "stale"):
            log.info("vllm_affinity: replica %s answers its metrics again (%s)", key, now)
