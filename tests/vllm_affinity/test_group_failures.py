"""Selection under failure: a replica down, its /metrics slow, failing or stale, uneven load, and retries."""

from __future__ import annotations

import httpx
import pytest

from costroute_plugins.vllm_affinity.blocks import CharApproxTokenizer
from costroute_plugins.vllm_affinity.group import AffinityGroup, Target, metrics_url
from costroute_plugins.vllm_affinity.policy import PrefixAffinityPolicy
from costroute_plugins.vllm_affinity.poller import MetricsPoller
from costroute_plugins.vllm_affinity.replicas import ReplicaBook, WorkerSample, parse_prometheus

A = Target("dep-a", "http://10.0.0.1:8000/v1")
B = Target("dep-b", "http://10.0.0.2:8000/v1")
SYSTEM = "You are the support assistant of a large store. Follow the policy below. " * 30


def vllm_metrics(running: int = 0, waiting: int = 0, kv: float = 0.1, queries: int = 0, hits: int = 0) -> str:
    labels = '{engine="0",model_name="tiny"}'
    return (f"# HELP vllm:num_requests_running x\n# TYPE vllm:num_requests_running gauge\n"
            f"vllm:num_requests_running{labels} {running}.0\nvllm:num_requests_waiting{labels} {waiting}.0\n"
            f"vllm:kv_cache_usage_perc{labels} {kv}\nvllm:prefix_cache_queries_total{labels} {queries}.0\n"
            f"vllm:prefix_cache_hits_total{labels} {hits}.0\n")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Workers:
    """What each worker's /metrics does: answer, refuse, time out or fail."""

    def __init__(self) -> None:
        self.behaviour = {metrics_url(A.api_base): vllm_metrics(), metrics_url(B.api_base): vllm_metrics()}

    def handler(self, request: httpx.Request) -> httpx.Response:
        what = self.behaviour[str(request.url)]
        if what == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if what == "slow":
            raise httpx.ReadTimeout("timed out", request=request)
        if what == "fail":
            return httpx.Response(500, text="internal error")
        if what == "garbage":
            return httpx.Response(200, text="<html>not metrics</html>")
        return httpx.Response(200, text=what)


@pytest.fixture
def setup():
    clock, workers = Clock(), Workers()
    book = ReplicaBook(staleness_s=5.0)
    policy = PrefixAffinityPolicy(load_factor=1.25)
    group = AffinityGroup("cheap", policy, CharApproxTokenizer(), 16, book, clock=clock)
    client = httpx.AsyncClient(transport=httpx.MockTransport(workers.handler))
    poller = MetricsPoller(book, interval_s=1.0, timeout_s=0.5, on_reset=policy.forget, client=client, clock=clock)
    group.select([A, B], _chat("warm-up"))  # registers both replicas, as the first request does
    return group, poller, workers, clock


def _chat(user: str, system: str = SYSTEM) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _home(group: AffinityGroup) -> tuple[Target, Target]:
    home = group.select([A, B], _chat("which replica holds this prefix?")).target
    return home, (B if home == A else A)


async def test_a_replica_whose_metrics_refuse_connections_is_skipped_until_it_answers_again(setup) -> None:
    group, poller, workers, clock = setup
    home, other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = "refuse"
    await poller.poll_once()

    assert group.select([A, B], _chat("question 1")).target == other

    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics()
    clock.now += 1
    await poller.poll_once()
    assert group.select([A, B], _chat("question 2")).target in (A, B)
    assert group.book.replicas[home.api_base].status(clock.now, 5.0) == "fresh"


async def test_a_slow_metrics_endpoint_ages_the_figures_but_the_replica_keeps_its_prefixes(setup) -> None:
    group, poller, workers, clock = setup
    home, _other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics(running=3)
    await poller.poll_once()
    workers.behaviour[metrics_url(home.api_base)] = "slow"

    clock.now += 2
    await poller.poll_once()
    assert group.book.replicas[home.api_base].status(clock.now, 5.0) == "fresh"

    clock.now += 5
    await poller.poll_once()
    replica = group.book.replicas[home.api_base]
    assert replica.status(clock.now, 5.0) == "stale"
    assert replica.load(clock.now, 5.0) == 0  # the 3 running requests of 7 s ago are not trusted any more
    selection = group.select([A, B], _chat("a busy worker still serves"))
    assert selection.target == home and selection.choice.reason == "cache"


@pytest.mark.parametrize("failure", ["fail", "garbage"])
async def test_a_failing_metrics_endpoint_is_a_stale_replica_not_a_crash(setup, failure) -> None:
    group, poller, workers, clock = setup
    home, _other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = failure
    await poller.poll_once()

    assert group.book.replicas[home.api_base].status(clock.now, 5.0) == "stale"
    assert group.select([A, B], _chat("question")).target == home
    assert group.book.replicas[home.api_base].last_error


async def test_when_every_replica_is_stale_requests_still_go_to_one_of_them(setup) -> None:
    group, poller, workers, _clock = setup
    for url in workers.behaviour:
        workers.behaviour[url] = "slow"
    await poller.poll_once()

    assert group.select([A, B], _chat("anyone?")).target in (A, B)


async def test_uneven_load_reported_by_the_workers_sends_the_prefix_to_the_least_loaded(setup) -> None:
    group, poller, workers, _clock = setup
    home, other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics(running=4, waiting=6)
    await poller.poll_once()

    selection = group.select([A, B], _chat("busy home"))

    assert selection.target == other and selection.choice.reason == "spill"


async def test_stale_load_figures_are_not_trusted(setup) -> None:
    group, poller, workers, clock = setup
    home, _other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics(running=4, waiting=6)
    await poller.poll_once()
    replica = group.book.replicas[home.api_base]

    clock.now += 60
    assert replica.load(clock.now, 5.0) == 0


async def test_a_worker_restart_forgets_what_it_held(setup) -> None:
    group, poller, workers, _clock = setup
    home, _other = _home(group)
    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics(queries=5000, hits=3000)
    await poller.poll_once()
    workers.behaviour[metrics_url(home.api_base)] = vllm_metrics(queries=10, hits=0)
    await poller.poll_once()

    assert group.select([A, B], _chat("after restart")).choice.reason != "cache"


def test_a_retry_avoids_the_replica_that_already_failed_this_call(setup) -> None:
    group, _poller, _workers, _clock = setup
    home, other = _home(group)

    retry = group.select([A, B], _chat("retry me"), call_id="call-1", tried=[home.deployment_id])

    assert retry.target == other


def test_a_request_that_could_not_connect_marks_the_replica_down_at_once(setup) -> None:
    group, _poller, _workers, _clock = setup
    home, other = _home(group)
    group.replica_down(home.api_base, "APIConnectionError: refused")

    assert group.select([A, B], _chat("next one")).target == other


def test_in_flight_requests_count_as_load_until_they_finish(setup) -> None:
    group, _poller, _workers, _clock = setup
    for i in range(3):
        group.select([A, B], _chat(f"q{i}"), call_id=f"c{i}")
    busy = sum(r.inflight for r in group.book.replicas.values())
    for i in range(3):
        group.release(f"c{i}")

    assert busy == 3
    assert all(r.inflight == 0 for r in group.book.replicas.values())


def test_vllm_metrics_are_summed_over_engines_and_read_by_name() -> None:
    text = vllm_metrics(running=2, waiting=1, queries=100, hits=40) + vllm_metrics(running=1).replace(
        'engine="0"', 'engine="1"')
    sample = WorkerSample.from_text(text)

    assert (sample.running, sample.waiting, sample.prefix_queries, sample.prefix_hits) == (3, 1, 100, 40)
    assert parse_prometheus("garbage line\nname 1.5\n") == {"name": 1.5}


def test_load_is_this_proxys_requests_now_plus_what_other_proxies_had_running_at_the_last_poll() -> None:
    book = ReplicaBook(staleness_s=5.0)
    replica = book.ensure("http://w:8000/v1", "dep", "http://w:8000/metrics")
    book.acquire("mine-1", replica.key)
    book.acquire("mine-2", replica.key)
    book.observe_sample(replica.key, WorkerSample(running=5, waiting=1, kv_usage=0.2, prefix_queries=0,
                                                  prefix_hits=0), now=100.0)
    book.release("mine-1")
    book.release("mine-2")

    assert replica.load(101.0, 5.0) == 4  # 6 reported, 2 of them ours and finished since: 4 belong to others
