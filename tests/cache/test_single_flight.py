"""Single-flight on its own: the first ask of a prompt leads, identical asks in flight follow it and are released
when it ends, fails or runs past its deadline; the table of prompts in flight stays bounded."""

from __future__ import annotations

import asyncio

import pytest

from costroute_plugins.cache.scope import scope_for
from costroute_plugins.cache.single_flight import Ending, Follow, Lead, SingleFlight, flight_key


def key(text: str = "What is the capital of France?", tenant: str = "team:a") -> str:
    return flight_key(scope_for([{"role": "user", "content": text}], tenant=tenant, model="premium"))


async def test_the_first_ask_leads_and_identical_asks_wait_for_its_stored_answer():
    flights = SingleFlight(wait_s=5)
    leader = flights.join(key(), "request-1")
    followers = [flights.join(key(), f"request-{n}") for n in range(2, 6)]
    waiting = [asyncio.create_task(follower.wait()) for follower in followers]
    await asyncio.sleep(0.01)

    flights.end("request-1", Ending.STORED)

    assert isinstance(leader, Lead) and all(isinstance(f, Follow) for f in followers)
    assert await asyncio.gather(*waiting) == [Ending.STORED] * 4
    assert len(flights) == 0


async def test_the_same_prompt_typed_differently_shares_the_flight_another_prompt_does_not():
    flights = SingleFlight(wait_s=5)
    flights.join(key("What is the capital of France?"), "request-1")

    assert isinstance(flights.join(key("  what is the capital of france "), "request-2"), Follow)
    assert isinstance(flights.join(key("What is the capital of Spain?"), "request-3"), Lead)


async def test_another_tenant_asking_the_same_prompt_leads_its_own_flight():
    flights = SingleFlight(wait_s=5)
    flights.join(key(tenant="team:a"), "request-1")

    assert isinstance(flights.join(key(tenant="team:b"), "request-2"), Lead)


async def test_a_leader_that_fails_releases_its_followers_at_once():
    flights = SingleFlight(wait_s=30)
    flights.join(key(), "request-1")
    follower = flights.join(key(), "request-2")
    waiting = asyncio.create_task(follower.wait())
    await asyncio.sleep(0.01)

    flights.end("request-1", Ending.FAILED)

    assert await asyncio.wait_for(waiting, 1) == Ending.FAILED


async def test_followers_stop_waiting_at_the_deadline_and_the_next_ask_leads_anew():
    flights = SingleFlight(wait_s=0.1)
    flights.join(key(), "request-1")  # never ends: its client went away
    follower = flights.join(key(), "request-2")

    started = asyncio.get_running_loop().time()
    assert await follower.wait() == Ending.TIMEOUT
    assert asyncio.get_running_loop().time() - started < 1
    assert isinstance(flights.join(key(), "request-3"), Lead)


async def test_a_follower_that_gives_up_does_not_cancel_the_others():
    flights = SingleFlight(wait_s=5)
    flights.join(key(), "request-1")
    impatient = asyncio.create_task(flights.join(key(), "request-2").wait())
    patient = asyncio.create_task(flights.join(key(), "request-3").wait())
    await asyncio.sleep(0.01)

    impatient.cancel()
    await asyncio.sleep(0.01)
    flights.end("request-1", Ending.STORED)

    assert await patient == Ending.STORED


async def test_a_leader_retrying_its_call_stays_the_leader():
    flights = SingleFlight(wait_s=5)
    flights.join(key(), "request-1")

    assert isinstance(flights.join(key(), "request-1"), Lead)


async def test_a_request_that_will_not_store_its_answer_follows_but_never_leads():
    flights = SingleFlight(wait_s=5)

    assert flights.join(key(), "no-store", may_lead=False) is None
    flights.join(key(), "request-1")
    assert isinstance(flights.join(key(), "no-store", may_lead=False), Follow)


async def test_ending_a_flight_one_does_not_lead_changes_nothing():
    flights = SingleFlight(wait_s=5)
    flights.join(key(), "request-1")

    assert flights.end("request-2", Ending.FAILED) == 0
    assert flights.end("request-1", Ending.STORED, key("another prompt")) == 0
    assert len(flights) == 1


async def test_a_late_end_releases_followers_unless_the_answer_was_stored_first():
    flights = SingleFlight(wait_s=5)
    flights.join(key("first"), "request-1")
    flights.join(key("second"), "request-2")
    first = asyncio.create_task(flights.join(key("first"), "follower-1").wait())
    second = asyncio.create_task(flights.join(key("second"), "follower-2").wait())

    flights.end_later("request-1", Ending.NOT_STORED, 0.05)
    flights.end_later("request-2", Ending.NOT_STORED, 0.05)
    flights.end("request-2", Ending.STORED)

    assert await asyncio.wait_for(first, 1) == Ending.NOT_STORED
    assert await asyncio.wait_for(second, 1) == Ending.STORED


async def test_the_table_of_prompts_in_flight_is_bounded():
    flights = SingleFlight(wait_s=5, max_flights=3)
    for number in range(3):
        flights.join(key(f"prompt {number}"), f"request-{number}")

    assert flights.join(key("prompt 3"), "request-3") is None  # goes upstream without single-flight
    assert isinstance(flights.join(key("prompt 0"), "request-4"), Follow)  # flights in the table still work
    flights.end("request-0", Ending.STORED)
    assert isinstance(flights.join(key("prompt 3"), "request-3"), Lead)
    assert len(flights) == 3


async def test_a_full_table_makes_room_by_dropping_flights_past_their_deadline():
    now = [0.0]
    flights = SingleFlight(wait_s=5, max_flights=2, clock=lambda: now[0])
    flights.join(key("prompt 0"), "request-0")
    flights.join(key("prompt 1"), "request-1")

    now[0] = 6.0

    assert isinstance(flights.join(key("prompt 2"), "request-2"), Lead)
    assert len(flights) == 1


def test_single_flight_off_is_not_built():
    with pytest.raises(ValueError, match="wait_s"):
        SingleFlight(wait_s=0)
