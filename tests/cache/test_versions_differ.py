"""Dotted versions and addresses are compared as written: read as decimals, "v2.10.0" and "v2.1.0" would both
be 2.1, and a cache would answer a question about one release with the notes of another."""

from __future__ import annotations

import pytest

from costroute_plugins.cache.text import Facts
from costroute_plugins.cache.verifier import RuleVerifier


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What changed in v2.10.0?", "What changed in v2.11.0?"),
        ("What changed in v2.10.0?", "What changed in v2.1.0?"),
        ("How do I upgrade Django to 4.2.1?", "How do I upgrade Django to 4.2.10?"),
        ("Release notes for kubectl v1.27, please.", "Release notes for kubectl v1.28, please."),
        ("Why can't I ping 192.168.1.1 from my laptop?", "Why can't I ping 192.168.1.10 from my laptop?"),
    ],
)
def test_prompts_about_different_versions_are_never_served_each_others_answer(query, cached):
    verdict = RuleVerifier().verify(query, cached, 0.99)
    assert not verdict.accepted and verdict.reason == "number differs"


def test_the_same_version_in_other_words_still_passes_the_rules():
    assert RuleVerifier().verify("What changed in v2.10.0?", "what's new in v2.10.0", 0.9).accepted


def test_plain_decimals_and_amounts_are_still_read_as_numbers():
    assert Facts("It costs $3.50, not 1,000 in 2020").numbers == {"3.5", "1000", "2020"}
    assert Facts("Upgrade 2.1.0 to v2.10").numbers == {"v2.1.0", "v2.10"}
