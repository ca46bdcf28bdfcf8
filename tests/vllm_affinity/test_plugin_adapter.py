"""The LiteLLM adapter: narrows a configured group to one replica, leaves other groups alone, and fails open."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from costroute_plugins.config import parse_config
from costroute_plugins.metrics import Metrics
from costroute_plugins.proxy.affinity_plugin import AffinityPlugin

SYSTEM = "You are the travel assistant. Follow these booking rules carefully. " * 40


def _plugin() -> tuple[AffinityPlugin, CollectorRegistry]:
    registry = CollectorRegistry()
    config = parse_config({"vllm_affinity": {"model_groups": ["local"]}})
    runtime = SimpleNamespace(config=config, config_path=None, metrics=Metrics.create(registry))
    return AffinityPlugin(runtime, registry=registry), registry


def _deployment(index: int, api_base: str | None = None) -> dict:
    return {"model_name": "local", "model_info": {"id": f"replica-{index}"},
            "litellm_params": {"model": "hosted_vllm/tiny", "api_base": api_base or f"http://127.0.0.1:{9000 + index}/v1"}}


def _messages(user: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


async def test_a_configured_group_is_narrowed_to_the_same_replica_for_a_shared_prefix() -> None:
    plugin, _ = _plugin()
    pool = [_deployment(0), _deployment(1), _deployment(2)]

    picks = []
    for i in range(5):  # one after the other: each finishes before the next is sent
        picks.append(await plugin.async_filter_deployments("local", pool, _messages(f"trip {i}"),
                                                           {"litellm_call_id": f"c{i}"}))
        await plugin.async_log_success_event({"litellm_call_id": f"c{i}", "metadata": {"model_group": "local"}},
                                             None, None, None)

    assert all(len(pick) == 1 for pick in picks)
    assert len({pick[0]["model_info"]["id"] for pick in picks}) == 1


async def test_a_retry_goes_to_a_replica_that_has_not_failed_this_call() -> None:
    plugin, _ = _plugin()
    pool = [_deployment(0), _deployment(1)]
    first = (await plugin.async_filter_deployments("local", pool, _messages("x"), {"litellm_call_id": "c"}))[0]

    retry_kwargs = {"litellm_call_id": "c", "metadata": {"previous_models": [
        {"deployment_id": first["model_info"]["id"], "exception_type": "APIConnectionError"}]}}
    retry = (await plugin.async_filter_deployments("local", pool, _messages("x"), retry_kwargs))[0]

    assert retry["model_info"]["id"] != first["model_info"]["id"]


async def test_other_groups_keep_litellms_own_choice() -> None:
    plugin, _ = _plugin()
    pool = [_deployment(0), _deployment(1)]

    assert await plugin.async_filter_deployments("premium", pool, _messages("x")) == pool


async def test_a_deployment_it_cannot_read_lets_the_request_through_and_counts_degraded() -> None:
    plugin, registry = _plugin()
    pool = [_deployment(0), _deployment(1, api_base="os.environ/UNSET")]

    assert await plugin.async_filter_deployments("local", pool, _messages("x")) == pool
    assert registry.get_sample_value("costroute_plugin_degraded_total",
                                     {"plugin": "affinity", "reason": "ValueError"}) == 1
    assert registry.get_sample_value("costroute_affinity_decisions_total",
                                     {"group": "local", "reason": "bypass"}) == 1
