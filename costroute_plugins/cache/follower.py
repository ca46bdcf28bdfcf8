"""Replays the shared store's changes into this replica's index on a thread of its own, so lookups need not.

Every replica keeps its own vector index of the entries in Redis and follows the store's event stream to stay in
step. Read by each lookup, that stream was one more Redis round trip per request; read here, with a blocking
read that returns the moment another replica writes, the index is as fresh and a lookup is one round trip
(``EntryStore.fetch``). The same turn writes the lookup counts the store held back (``count_lookup``), so an
operator's hit rate is at most a fraction of a second behind.

While the store does not answer, the thread says so once (log, ``costroute_plugin_degraded_total{plugin="cache",
reason="follow"}``) and tries again every second; lookups meanwhile fail on their own round trip and bypass the
cache, and the index is rebuilt once the store is back (``CostrouteCacheBackend``), which drops whatever this
thread read before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from costroute_plugins.cache.semantic_cache import SemanticCache

log = logging.getLogger("costroute")

#: How long one read waits for a change: below the Redis clients' socket timeout (``redis_clients.TIMEOUT_S``).
BLOCK_S = 0.25
RETRY_S = 1.0


class Follower:
    def __init__(self, cache: SemanticCache, *, on_failure: Callable[[Exception], None] | None = None,
                 block_s: float = BLOCK_S) -> None:
        self.cache = cache
        self.on_failure = on_failure
        self.block_s = block_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="costroute-cache-follower", daemon=True)

    def start(self) -> Follower:
        self.cache.followed.set()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Lookups replay the stream themselves again once the thread has stopped."""
        self._stop.set()
        self._thread.join(self.block_s + 2 * RETRY_S)
        self.cache.followed.clear()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self.cache.sync(self.block_s)
                self.cache.store.flush_counts()
            except Exception as error:
                if not failing:
                    log.warning("semantic cache: cannot follow the store's changes (%s: %s); retrying every %g s",
                                type(error).__name__, error, RETRY_S)
                    if self.on_failure is not None:
                        self.on_failure(error)
                failing = True
                self._stop.wait(RETRY_S)
                continue
            if failing:
                log.info("semantic cache: following the store's changes again")
            failing = False
