"""Await a coroutine until a deadline whose expiry settles the wait in the same turn of the event loop.

Why not ``asyncio.wait_for``: when its timeout expires, Python 3.11's ``wait_for`` cancels the awaited task and
then waits for that cancellation to finish, which takes more turns of the event loop. The router gives up on a
late decision a margin before LiteLLM's own ``wait_for`` around the classifier (``proxy/classifier.py``). On a
saturated replica one stall of the loop can span both deadlines; both timers then come due in the same turn, and
during those extra turns LiteLLM's timer cancels the classifier, so LiteLLM's fallback tier is served instead of
costroute's baseline, and counted as a decision past LiteLLM's timeout (``route_fallback_timeout``).

Here the timer's callback settles the wait itself. Timers due in one turn run in the order of their deadlines
and the wake-ups they schedule run in that order in the next turn, so the waiting coroutine resumes before
LiteLLM's ``wait_for`` does and returns without awaiting anything more. The abandoned task is cancelled, not
awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _retrieve(task: asyncio.Task) -> None:
    """Read an abandoned task's outcome, so a failure after it was given up is not logged as never retrieved."""
    if not task.cancelled():
        task.exception()


async def within(coroutine: Coroutine[Any, Any, T], seconds: float) -> T:
    """``coroutine``'s result, or ``TimeoutError`` once ``seconds`` have passed (the coroutine is cancelled). A
    deadline already past gives up at once, without a turn of the loop: a timer due now would still run after
    any timer that came due earlier, such as LiteLLM's."""
    if seconds <= 0:
        coroutine.close()
        raise TimeoutError("the deadline passed before the wait began")
    loop = asyncio.get_running_loop()
    task = loop.create_task(coroutine)
    settled: asyncio.Future[None] = loop.create_future()

    def settle(_done: object = None) -> None:
        if not settled.done():
            settled.set_result(None)

    task.add_done_callback(settle)
    timer = loop.call_later(seconds, settle)
    try:
        await settled
    except asyncio.CancelledError:  # whoever waits for us gave up first: so do we
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    finally:
        timer.cancel()
        task.remove_done_callback(settle)
    if task.done():
        return task.result()
    task.cancel()
    task.add_done_callback(_retrieve)
    raise TimeoutError(f"not done within {seconds:.3f} s")
