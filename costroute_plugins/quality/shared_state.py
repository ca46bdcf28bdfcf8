"""A replica's view of one loop's shared state: read on the request path from memory, refreshed in background.

Routing and cache lookups ask for the loop's current value on every request; waiting for Redis there would put
a round trip on every answer. So the value is kept in memory and re-read at most every ``refresh_s`` by a
background task started from the request path; a failed read keeps the last value (and is logged and counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from costroute_plugins.quality.loop_store import LoopState, LoopStore

log = logging.getLogger("costroute")


class SharedState:
    def __init__(self, store: LoopStore, refresh_s: float, on_change: Callable[[LoopState, LoopState], None],
                 on_error: Callable[[], None]) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.on_change = on_change
        self.on_error = on_error
        self.state = LoopState()
        self._read_at = -float("inf")
        self._refreshing: asyncio.Task | None = None

    def current(self) -> LoopState:
        """The state known now; starts a background re-read when it is older than ``refresh_s``."""
        if time.monotonic() - self._read_at >= self.refresh_s and self._refreshing is None:
            self._read_at = time.monotonic()
            self._refreshing = asyncio.get_running_loop().create_task(self._refresh())
        return self.state

    async def _refresh(self) -> None:
        try:
            self.know(await self.store.state())
        except Exception as error:
            log.warning("quality loop: could not read the shared state (%s); keeping %.3f", type(error).__name__,
                        self.state.shift)
            self.on_error()
        finally:
            self._refreshing = None

    def know(self, state: LoopState) -> None:
        """Take ``state`` as the current one (read from the store, or just written by this replica)."""
        old, self.state = self.state, state
        self.on_change(old, state)
