"""``make loadtest`` says which regime it measured and judges added p50 the way the goal states it."""

from __future__ import annotations

from costroute_plugins.harness.config_edits import read_config, without_costroute
from costroute_plugins.harness.load import Load, mixed_traffic
from costroute_plugins.harness.overhead import ADDED_MISS_P50_GOAL, added_p50, regime
from tests.harness import PROXY_CONFIG


def test_a_vanilla_p50_near_the_upstream_is_below_saturation_and_a_multiple_of_it_is_not() -> None:
    assert "paced, mean think time 8 s; vanilla below saturation" in regime(8.0, 229.0, 200.0)
    saturated = regime(0.0, 1603.0, 200.0)
    assert saturated.startswith("saturated closed loop") and "SATURATED (p50 8.0x the upstream)" in saturated


def test_added_p50_is_judged_against_five_percent_of_vanillas_and_eight_on_misses() -> None:
    assert added_p50(240.0, 229.0).endswith("(+4.8%), meets the <= +5% goal")
    assert added_p50(260.0, 229.0).endswith("(+13.5%), does NOT meet the <= +5% goal")
    assert added_p50(245.0, 229.0, ADDED_MISS_P50_GOAL).endswith("(+7.0%), meets the <= +8% goal")


def test_both_fleets_get_the_same_think_times_from_the_same_seed() -> None:
    def waits(seed: int, client: int) -> list[float]:
        pacing = Load(["http://unused"], mixed_traffic(["t"]), think_s=8.0, think_seed=seed).pacing(client)
        return [pacing.expovariate(1.0 / 8.0) for _ in range(5)]

    assert waits(1, 3) == waits(1, 3) != waits(1, 4)
    assert waits(1, 3) != waits(2, 3)


def test_the_vanilla_fleet_sends_every_auto_request_to_premium_with_no_costroute_plugin() -> None:
    document = without_costroute(read_config(PROXY_CONFIG), auto_as="premium")
    models = {m["model_name"]: m["litellm_params"] for m in document["model_list"]}
    callbacks = [str(c) for c in document["litellm_settings"]["callbacks"]]

    assert models["auto"] == models["premium"]
    assert "costroute" not in document and not any(c.startswith("costroute_plugins.") for c in callbacks)
    assert "prometheus" in callbacks
