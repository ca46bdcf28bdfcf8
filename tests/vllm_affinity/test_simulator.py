"""``costroute simulate-affinity``: vLLM's block LRU per replica, replayed under the proxy's own policies."""

from __future__ import annotations

import json
import random

from costroute_plugins.cli import main as costroute
from costroute_plugins.vllm_affinity.policy import PrefixAffinityPolicy, RoundRobinPolicy
from costroute_plugins.vllm_affinity.simulator import ReplicaCache, SimRequest, simulate


def _request(family: int, blocks: int = 4, tail: int = 10) -> SimRequest:
    return SimRequest(tuple(family * 100 + i for i in range(blocks)), blocks * 16 + tail, 4)


def test_a_repeated_prefix_hits_all_its_full_blocks_but_never_the_last_token() -> None:
    cache = ReplicaCache(cache_blocks=32, block_size=16)
    cache.finish(cache.start(_request(1), 0))
    cache.finish(cache.start(_request(1), 0))
    exact = SimRequest(tuple(range(100, 104)), 64, 4)  # prompt ends exactly on a block boundary
    cache.finish(cache.start(exact, 0))

    assert cache.hits == 4 * 16 + 3 * 16
    assert cache.queries == 2 * 74 + 64


def test_the_least_recently_used_prefix_is_evicted_first_and_its_tail_before_its_head() -> None:
    cache = ReplicaCache(cache_blocks=10, block_size=16)
    for family in (1, 2, 3):
        cache.finish(cache.start(_request(family), 0))

    assert 100 in cache.free_cached or 101 in cache.free_cached  # family 1 partly survives: head kept longest
    assert 103 not in cache.free_cached


def test_affinity_keeps_each_prefix_on_one_replica_so_the_pool_holds_twice_as_many() -> None:
    rng = random.Random(0)
    rounds = [rng.sample(range(8), 8) for _ in range(20)]  # every family once a round, in a random order
    requests = [_request(family) for round_ in rounds for family in round_]
    round_robin = simulate(requests, RoundRobinPolicy(), replicas=2, cache_blocks=24, block_size=16)
    affinity = simulate(requests, PrefixAffinityPolicy(), replicas=2, cache_blocks=24, block_size=16)

    assert affinity.hit_rate > 1.5 * round_robin.hit_rate
    assert affinity.max_over_mean_load <= 1.5


def test_the_cli_projects_hit_rates_for_several_pool_sizes_as_json(tmp_path, capsys) -> None:
    path = tmp_path / "workload.jsonl"
    assert costroute(["simulate-affinity", "--make-workload", str(path), "--families", "16", "--requests", "64",
                      "--system-words", "300"]) == 0
    capsys.readouterr()

    assert costroute(["simulate-affinity", "--replicas", "4,8", "--workload", str(path), "--cache-blocks", "64",
                      "--json"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["replicas"], line["policy"]) for line in lines] == [
        (4, "round-robin"), (4, "affinity"), (8, "round-robin"), (8, "affinity")]
    assert all(0 <= line["hit_rate"] <= 1 for line in lines)


def test_a_bad_workload_line_is_named_with_its_number(tmp_path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": []}\n{"prompt": "no messages"}\n')

    assert costroute(["simulate-affinity", "--replicas", "2", "--workload", str(path)]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err
