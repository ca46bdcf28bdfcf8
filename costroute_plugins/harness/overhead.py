"""What a load test of costroute against the same proxy without it measured, and whether it meets the goal.

The goals are about latency costroute adds to a request: costroute's p50 at most 5% above vanilla's over all
answers, and at most 8% above it on cache misses (answers that went upstream, where costroute's work is not
offset by a saved upstream call). Those figures only mean something while vanilla itself is below saturation; once its requests queue for CPU, latency measures
the queue, and the run's figures are throughput and CPU per request instead.
"""

from __future__ import annotations

#: Vanilla's p50 above this multiple of the upstream's latency: its requests queued for CPU.
SATURATED_ABOVE = 1.5
#: The goals: costroute's p50 at most this share above vanilla's, over all answers and on cache misses.
ADDED_P50_GOAL = 0.05
ADDED_MISS_P50_GOAL = 0.08


def regime(think_s: float, vanilla_p50_ms: float, upstream_ms: float) -> str:
    """What the run measured, from its pacing and from vanilla's own p50."""
    pacing = f"paced, mean think time {think_s:g} s" if think_s > 0 else "saturated closed loop (no think time)"
    if vanilla_p50_ms <= SATURATED_ABOVE * upstream_ms:
        return f"{pacing}; vanilla below saturation (p50 {vanilla_p50_ms:.0f} ms vs upstream {upstream_ms:.0f} ms)"
    return (f"{pacing}; vanilla SATURATED (p50 {vanilla_p50_ms / upstream_ms:.1f}x the upstream): latencies measure "
            "CPU queueing, read throughput and CPU per request, not added latency")


def added_p50(ours_ms: float, vanilla_ms: float, goal: float = ADDED_P50_GOAL) -> str:
    share = (ours_ms - vanilla_ms) / vanilla_ms
    verdict = "meets" if share <= goal else "does NOT meet"
    return f"{ours_ms - vanilla_ms:+.1f} ms ({share:+.1%}), {verdict} the <= {goal:+.0%} goal"
