"""The quality loop's decisions: tighten as soon as the audits say the target is missed, loosen only with proof,
never on too little evidence; and the shared state a fleet of replicas moves together."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from costroute_plugins.quality.audit import AuditOutcome
from costroute_plugins.quality.config import LoopConfig, QualityConfig
from costroute_plugins.quality.controller import LoopWindow, decide
from costroute_plugins.quality.judge import Verdict
from costroute_plugins.quality.loop import QualityLoop
from costroute_plugins.quality.loop_store import InMemoryLoopStore, RedisLoopStore
from costroute_plugins.quality.metrics import QualityMetrics
from costroute_plugins.redis_clients import async_client

LOOP = LoopConfig(enabled=True, min_audits=10, step=0.05, max_step=0.3, margin=0.02)


def window(routed: int, below: int, ratings: list[tuple[float, float]]) -> LoopWindow:
    evidence = LoopWindow(routed, below)
    for served, reference in ratings:
        evidence.audits.add("routed", Verdict("single", served, reference))
    return evidence


def test_the_estimate_counts_top_tier_answers_as_full_quality_and_below_top_as_audited():
    # Half the traffic below the top tier, keeping 80% of the top tier's rating there: 90% overall.
    estimate = window(100, 50, [(8, 10), (7, 9), (7, 8), (6, 8)] * 5).estimate()
    assert estimate is not None and abs(estimate.value - 0.9) < 1e-9
    assert estimate.lower < 0.9 < estimate.upper


def test_below_target_it_tightens_by_what_the_evidence_says_is_needed():
    # 60% below top at 70% quality: 82% overall. Meeting 95% needs at most 1/6 below top: move ~0.43, capped.
    change = decide(window(100, 60, [(7, 10)] * 12), 0.0, 0.95, LOOP)
    assert change is not None and change.direction == "tighten"
    assert change.new_shift == pytest.approx(0.3)
    assert "0.820" in change.reason and "target 0.950" in change.reason


def test_it_waits_for_enough_audits_and_holds_when_the_estimate_is_near_target():
    spread = [(9, 10), (7, 10), (10, 10), (6, 10), (9, 9), (8, 10), (10, 10), (7, 9), (9, 10)]
    assert decide(window(100, 60, spread), 0.0, 0.95, LOOP) is None  # 9 audits, upper bound above target
    near = [(9.6, 10), (9.4, 10), (9.5, 10), (9.7, 10)] * 4  # 96.5% overall: not clearly above 97%
    assert decide(window(100, 100, near), 0.0, 0.95, LOOP) is None


def test_it_loosens_one_step_only_when_the_lower_bound_is_comfortably_above_target():
    excellent = [(10, 10), (9.9, 10), (9.9, 9.8), (10, 10)] * 5
    change = decide(window(100, 40, excellent), 0.1, 0.95, LOOP)
    assert change is not None and change.direction == "loosen" and change.new_shift == pytest.approx(0.05)
    assert decide(window(100, 40, excellent), -LOOP.max_loosen, 0.95, LOOP) is None


def outcome(served: float, reference: float, kind: str = "routed") -> AuditOutcome:
    return AuditOutcome("r", "team:a", kind, "cheap", Verdict("single", served, reference), 0.001)


def run_loop(loop: QualityLoop, answers: int, below: int, audits: list[AuditOutcome], version: int = 0):
    async def go():
        changes = []
        for n in range(answers):
            loop.observe(n < below, version)
        for audit in audits:
            changes.append(await loop.record(audit, version))
        return [change for change in changes if change is not None]
    return asyncio.run(go())


def new_loop(store, enabled: bool = True) -> QualityLoop:
    config = QualityConfig(enabled=True, target=0.95, loop=LOOP.model_copy(update={"enabled": enabled}))
    return QualityLoop(config, store, QualityMetrics.create(CollectorRegistry()))


def test_a_loop_that_is_off_reports_the_estimate_and_never_moves():
    loop = new_loop(InMemoryLoopStore(), enabled=False)
    assert run_loop(loop, 100, 60, [outcome(5, 10)] * 20) == []
    assert loop.metrics.overall.labels("value")._value.get() == pytest.approx(0.7)
    assert asyncio.run(loop.store.state()).shift == 0.0


def test_after_a_change_old_evidence_no_longer_counts():
    store = InMemoryLoopStore()
    loop = new_loop(store)
    changes = run_loop(loop, 100, 60, [outcome(5, 10)] * 12)
    assert [c.direction for c in changes] == ["tighten"]
    # audits of answers routed before the change count only in the overall estimate
    assert run_loop(loop, 0, 0, [outcome(5, 10)] * 20, version=0) == []
    # the next decision needs audits of answers routed under the new thresholds (a clear miss: half of 10)
    assert run_loop(loop, 10, 5, [outcome(5, 10)] * 4, version=1) == []
    assert [c.direction for c in run_loop(loop, 0, 0, [outcome(5, 10)], version=1)] == ["tighten"]
    assert len(asyncio.run(store.history())) == 2


@pytest.fixture
def redis_prefix():
    import uuid
    return f"costroute-test:{uuid.uuid4().hex}:"


def test_two_replicas_on_redis_pool_their_evidence_and_move_the_shift_once(redis_prefix):
    async def go():
        stores = [RedisLoopStore(async_client("redis://127.0.0.1:6379/0"), redis_prefix) for _ in range(2)]
        config = QualityConfig(enabled=True, target=0.95, loop=LOOP)
        replicas = [QualityLoop(config, store, QualityMetrics.create(CollectorRegistry())) for store in stores]
        changes = []
        for n in range(12):  # the audits alternate between replicas; neither alone has 10
            replica = replicas[n % 2]
            for k in range(10):
                replica.observe(k < 6, 0)
            changes.append(await replica.record(outcome(6, 10), 0))
        made = [c for c in changes if c is not None]
        state = await stores[0].state()
        history = await stores[1].history()
        # a restarted replica reads the same shift
        fresh = QualityLoop(config, RedisLoopStore(async_client("redis://127.0.0.1:6379/0"), redis_prefix),
                            QualityMetrics.create(CollectorRegistry()))
        deadline = asyncio.get_running_loop().time() + 10
        while fresh.shift()[1] != state.version and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)  # its first read starts a background refresh from Redis
        return made, state, history, fresh.shift()[0]

    made, state, history, restarted = asyncio.run(go())
    assert len(made) == 1 and made[0].direction == "tighten"
    assert state.version == 1 and state.shift == pytest.approx(made[0].new_shift)
    assert history[0]["new_shift"] == pytest.approx(state.shift) and "audits" in history[0]["reason"]
    assert restarted == pytest.approx(state.shift)


def cache_audit(wrong: bool) -> AuditOutcome:
    # a wrong hit: the cached answer fails the question (rated low) while the fresh one does not
    verdict = Verdict("single", 2 if wrong else 9, 9)
    return AuditOutcome("r", "team:a", "cache", None, verdict, 0.001)


def test_the_cache_loop_raises_the_similarity_threshold_while_hits_answer_other_questions():
    from costroute_plugins.quality.cache_loop import CacheLoop

    config = QualityConfig(enabled=True, loop=LOOP)
    cache = CacheLoop(config, InMemoryLoopStore(), QualityMetrics.create(CollectorRegistry()))

    async def go():
        floors = [cache.similarity_floor(0.85)]
        for n in range(10):
            await cache.record(cache_audit(wrong=n < 3))  # 30% wrong hits
        floors.append(cache.similarity_floor(0.85))
        return floors

    before, after = asyncio.run(go())
    assert before == 0.85 and after == pytest.approx(0.87)
    off = CacheLoop(QualityConfig(enabled=True), InMemoryLoopStore(), QualityMetrics.create(CollectorRegistry()))
    assert off.similarity_floor(0.85) == 0.85


def test_the_cache_loop_lowers_it_again_only_on_strong_evidence():
    from costroute_plugins.quality.controller import decide_cache

    clean = LoopWindow()
    for _ in range(30):
        clean.audits.add("cache", Verdict("single", 9, 9))
    assert decide_cache(clean, 0.04, LOOP) is None  # 0 of 30: the upper bound is not yet under 1%
    for _ in range(600):
        clean.audits.add("cache", Verdict("single", 9, 9))
    change = decide_cache(clean, 0.04, LOOP)
    assert change is not None and change.direction == "loosen" and change.new_shift == pytest.approx(0.03)


def test_a_clear_miss_tightens_on_half_the_audits():
    clear_miss = [(4, 9), (5, 9), (4, 8), (5, 10), (4, 9), (5, 9)]  # 6 audits, far below target
    assert decide(window(100, 60, clear_miss), 0.0, 0.95, LOOP).direction == "tighten"
    unclear = [(9, 10), (7, 10), (10, 10), (6, 10), (9, 9), (8, 10)]  # below on average, interval wide
    assert decide(window(100, 60, unclear), 0.0, 0.95, LOOP) is None
