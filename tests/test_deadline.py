"""``deadline.within``: a wait that gives up in the turn of the event loop its deadline comes due, so an outer
``wait_for`` with a later deadline sees it finished even when one stall of the loop spans both deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest

from costroute_plugins.deadline import within


def test_a_coroutine_done_in_time_gives_its_result_and_its_error():
    async def answer() -> str:
        await asyncio.sleep(0.01)
        return "cheap"

    async def broken() -> str:
        raise ValueError("no artifact")

    assert asyncio.run(within(answer(), 1.0)) == "cheap"
    with pytest.raises(ValueError, match="no artifact"):
        asyncio.run(within(broken(), 1.0))


def test_a_coroutine_past_its_deadline_is_cancelled_and_the_wait_times_out():
    cancelled = []

    async def stuck() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "never"

    async def wait() -> float:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await within(stuck(), 0.05)
        await asyncio.sleep(0)  # the abandoned task runs its cancellation
        return time.monotonic() - started

    assert asyncio.run(wait()) < 1.0 and cancelled == [True]


def test_when_a_stall_spans_both_deadlines_the_inner_give_up_still_answers_the_outer_wait():
    async def stuck() -> str:
        await asyncio.sleep(10)
        return "never"

    async def inner() -> str:
        try:
            return await within(stuck(), 0.1)
        except TimeoutError:
            return "baseline"

    async def outer() -> str:
        asyncio.get_running_loop().call_later(0.02, time.sleep, 0.4)  # the loop stalls past 100 ms and 300 ms
        return await asyncio.wait_for(inner(), 0.3)

    assert asyncio.run(outer()) == "baseline"


def test_an_outer_cancellation_cancels_the_awaited_coroutine_too():
    cancelled = []

    async def stuck() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def outer() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(within(stuck(), 5.0), 0.05)
        await asyncio.sleep(0)

    asyncio.run(outer())
    assert cancelled == [True]


def test_a_deadline_already_past_gives_up_without_a_turn_of_the_loop():
    ran = []

    async def decision() -> str:
        ran.append(True)
        return "cheap"

    async def outer() -> str:
        try:
            return await within(decision(), -0.01)
        except TimeoutError:
            return "baseline"

    assert asyncio.run(outer()) == "baseline" and ran == []
