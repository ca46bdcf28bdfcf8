"""The ``costroute.vllm_affinity`` section is checked at load, naming the bad key and the fix."""

from __future__ import annotations

import pytest

from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.vllm_affinity.config import AffinityConfig, affinity_problems


def test_defaults_turn_affinity_off_and_match_vllm_cpu_blocks() -> None:
    config = parse_config(None).vllm_affinity

    assert config.model_groups == [] and config.block_size == 128 and config.policy == "affinity"


@pytest.mark.parametrize("section, message", [
    ({"load_factor": 0.8}, "load_factor"),
    ({"staleness_s": 1, "poll_interval_s": 1}, "staleness_s (1.0) must be at least twice poll_interval_s"),
    ({"tokenizer": "/nowhere/model"}, "has no tokenizer.json"),
    ({"policy": "random"}, "policy"),
    ({"model_gruops": ["cheap"]}, "model_gruops"),
])
def test_a_bad_setting_fails_the_load_with_its_key_named(section, message) -> None:
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"vllm_affinity": section})

    assert message in str(error.value)
    assert "vllm_affinity" in str(error.value)


def test_a_group_missing_from_model_list_or_without_api_base_is_reported_with_the_fix() -> None:
    document = {"model_list": [
        {"model_name": "cheap", "litellm_params": {"model": "hosted_vllm/x", "api_base": "http://a:8000/v1"}},
        {"model_name": "cheap", "litellm_params": {"model": "hosted_vllm/x"}},
    ]}

    problems = affinity_problems(document, AffinityConfig(model_groups=["cheap", "chaep"]))

    assert any("'cheap' has deployments without api_base" in p for p in problems)
    assert any("'chaep' is not a model_name in model_list" in p and "['cheap']" in p for p in problems)
