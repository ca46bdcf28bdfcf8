"""Pleasantries go to the cheapest tier whatever the trained model thinks; real tasks are never caught."""

from __future__ import annotations

import pytest

from costroute_plugins.routing.chitchat import is_chit_chat
from costroute_plugins.routing.outcomes import read_outcomes
from costroute_plugins.routing.router import load_router
from tests.routing.conftest import HELDOUT, SAMPLE


@pytest.mark.parametrize("text", ["Hi!", "hello there :)", "Thanks so much!", "Good morning, how are you today?",
                                  "bye, see you later", "Thank you!!! 🙏"])
def test_a_greeting_thanks_or_farewell_is_served_by_the_cheapest_tier(text: str) -> None:
    decision = load_router().decide([{"role": "user", "content": text}])
    assert decision.tier == "cheap" and "chit-chat rule" in decision.reason


@pytest.mark.parametrize("text", ["yes", "go ahead", "Hi! Can you prove Fermat's last theorem?", "What is 2+2?",
                                  "Thanks! Now rewrite the function in Rust."])
def test_approvals_and_tasks_are_left_to_the_classifier(text: str) -> None:
    assert not is_chit_chat(text)


def test_the_rule_can_be_turned_off() -> None:
    router = load_router({"chit_chat_rule": False})
    assert "chit-chat" not in router.decide([{"role": "user", "content": "Hi!"}]).reason


def test_no_benchmark_prompt_is_mistaken_for_chit_chat() -> None:
    rows = read_outcomes(SAMPLE) + read_outcomes(HELDOUT)
    assert not [row.text for row in rows if is_chit_chat(row.text)]
