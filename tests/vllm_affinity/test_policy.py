"""Choosing a replica: shared prefixes stick to one replica, load stays bounded, and failures are routed around."""

from __future__ import annotations

from collections import Counter

import pytest

from costroute_plugins.vllm_affinity.blocks import block_hashes
from costroute_plugins.vllm_affinity.policy import (
    Candidate,
    NoReplicaError,
    PrefixAffinityPolicy,
    RoundRobinPolicy,
)


def _prompt(family: int, turn: int, blocks: int = 4) -> list[int]:
    return block_hashes([family * 10_000 + i for i in range(blocks * 16)] + [turn] * 5, 16)


def _idle(*keys: str) -> list[Candidate]:
    return [Candidate(key, 0) for key in keys]


def test_requests_sharing_a_prefix_go_to_the_same_replica() -> None:
    policy = PrefixAffinityPolicy()
    chosen = {policy.choose(_prompt(7, turn), _idle("a", "b", "c")).key for turn in range(20)}

    assert len(chosen) == 1


def test_the_second_request_of_a_prefix_is_routed_by_cache_the_first_by_ring() -> None:
    policy = PrefixAffinityPolicy()
    first = policy.choose(_prompt(1, 0), _idle("a", "b"))
    second = policy.choose(_prompt(1, 1), _idle("a", "b"))

    assert (first.reason, second.reason) == ("ring", "cache")
    assert second.matched_blocks == 4


def test_many_prefixes_spread_over_replicas_by_request_share() -> None:
    policy = PrefixAffinityPolicy(load_factor=1.25)
    counts = Counter(policy.choose(_prompt(family, turn), _idle("a", "b", "c", "d")).key
                     for turn in range(10) for family in range(40))

    assert max(counts.values()) <= 1.5 * sum(counts.values()) / 4


def test_a_busy_replica_spills_its_prefix_to_the_next_one() -> None:
    policy = PrefixAffinityPolicy(load_factor=1.25)
    home = policy.choose(_prompt(3, 0), _idle("a", "b")).key
    other = "b" if home == "a" else "a"

    loaded = [Candidate(home, 6), Candidate(other, 0)]
    choice = policy.choose(_prompt(3, 1), loaded)

    assert choice.key == other and choice.reason == "spill"


def test_uneven_load_beyond_every_bound_goes_to_the_least_loaded_replica() -> None:
    policy = PrefixAffinityPolicy(load_factor=1.0)
    choice = policy.choose(_prompt(5, 0), [Candidate("a", 9, cache_full=True), Candidate("b", 4, cache_full=True),
                                           Candidate("c", 7, cache_full=True)])

    assert (choice.key, choice.reason) == ("b", "least-loaded")


def test_a_replica_whose_kv_cache_is_full_takes_no_new_prefix_while_another_has_room() -> None:
    policy = PrefixAffinityPolicy()
    home = policy.choose(_prompt(2, 0), _idle("a", "b")).key
    other = "b" if home == "a" else "a"

    choice = policy.choose(_prompt(2, 1), [Candidate(home, 0, cache_full=True), Candidate(other, 0)])

    assert choice.key == other


def test_a_replica_that_disappears_moves_only_its_own_prefixes() -> None:
    policy = PrefixAffinityPolicy(load_factor=100)
    before = {family: policy.choose(_prompt(family, 0), _idle("a", "b", "c")).key for family in range(30)}
    gone = Counter(before.values()).most_common(1)[0][0]
    survivors = [key for key in ("a", "b", "c") if key != gone]

    after = {family: policy.choose(_prompt(family, 1), _idle(*survivors)).key for family in range(30)}

    assert all(after[f] == before[f] for f in before if before[f] != gone)
    assert all(after[f] in survivors for f in before)


def test_a_restarted_replica_is_forgotten_so_its_prefixes_are_not_assumed_cached() -> None:
    policy = PrefixAffinityPolicy()
    home = policy.choose(_prompt(4, 0), _idle("a", "b")).key
    policy.forget(home)

    assert policy.choose(_prompt(4, 1), _idle("a", "b")).reason == "ring"


def test_prompts_shorter_than_one_block_go_to_the_least_loaded_replica() -> None:
    policy = PrefixAffinityPolicy()
    choice = policy.choose([], [Candidate("a", 3), Candidate("b", 1)])

    assert (choice.key, choice.reason) == ("b", "short-prompt")


def test_no_candidate_is_an_error_the_adapter_turns_into_litellms_own_choice() -> None:
    with pytest.raises(NoReplicaError):
        PrefixAffinityPolicy().choose(_prompt(1, 0), [])


def test_round_robin_takes_replicas_in_turn_whatever_the_prompt() -> None:
    policy = RoundRobinPolicy()

    assert [policy.choose(_prompt(1, 0), _idle("b", "a")).key for _ in range(4)] == ["a", "b", "a", "b"]


def test_at_low_load_a_prefix_stays_home_rather_than_being_prefilled_again_elsewhere() -> None:
    policy = PrefixAffinityPolicy(load_factor=1.25, load_slack=4)
    home = policy.choose(_prompt(6, 0), _idle("a", "b")).key
    other = "b" if home == "a" else "a"

    choice = policy.choose(_prompt(6, 1), [Candidate(home, 3), Candidate(other, 0)])

    assert (choice.key, choice.reason) == (home, "cache")
