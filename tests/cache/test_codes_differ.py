"""Found by the fault tests' traffic (issue 7): prompts differing only in a letters-and-digits code were served
each other's answers. A code (A380, iPhone15, ORD1234) is a number that changes the subject."""

from __future__ import annotations

from costroute_plugins.cache.verifier import RuleVerifier


def test_prompts_about_different_codes_are_never_served_each_others_answer():
    rules = RuleVerifier()

    assert not rules.verify("Is the A380 bigger than a 747?", "Is the A320 bigger than a 747?", 0.97).accepted
    assert not rules.verify("Status of order ORD1234?", "Status of order ORD1243?", 0.98).accepted


def test_the_same_code_with_other_wording_still_hits():
    assert RuleVerifier().verify("Is the A380 bigger than a 747?", "is the a380 bigger than a 747", 0.97).accepted
