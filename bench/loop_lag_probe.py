"""A LiteLLM callback the load test registers in both fleets: how late the proxy's event loop runs.

A task wakes every ``INTERVAL_S`` and records how much later than asked it woke: time the loop spent on other
work (request handling, and whatever blocks it: a plugin computing on the loop, a synchronous call). The delays
are appended as one JSON line a second to the file named by ``COSTROUTE_LOOP_LAG_FILE`` plus the process id, so
each replica writes its own; the load test reads the lines written while it drove traffic. Bench-only: it is
the same probe in the vanilla fleet and in costroute's, so the difference between the two is costroute's.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from litellm.integrations.custom_logger import CustomLogger

INTERVAL_S = 0.05


class LoopLagProbe(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task | None = None

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        """Starts the sampler on the proxy's loop with the first request (LiteLLM has no start-up hook for a
        callback); changes nothing in the request."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sample())
        return data

    async def _sample(self) -> None:
        path = f"{os.environ['COSTROUTE_LOOP_LAG_FILE']}.{os.getpid()}"
        delays: list[float] = []
        flushed = time.monotonic()
        while True:
            asked = time.monotonic()
            await asyncio.sleep(INTERVAL_S)
            now = time.monotonic()
            delays.append(now - asked - INTERVAL_S)
            if now - flushed >= 1.0:
                line = json.dumps({"t": time.time(), "delays_s": [round(d, 5) for d in delays]})
                await asyncio.to_thread(_append, path, line)
                delays, flushed = [], now


def _append(path: str, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line + "\n")


probe = LoopLagProbe()
