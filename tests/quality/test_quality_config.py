"""The ``costroute.quality`` settings: safe defaults, and every mistake named with its key and its fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costroute_plugins.config_errors import error_lines
from costroute_plugins.quality.config import QualityConfig


def problems(**values) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        QualityConfig.model_validate(values)
    return error_lines(refused.value, "costroute.quality", QualityConfig)


def test_defaults_audit_nothing_until_enabled():
    config = QualityConfig()

    assert not config.enabled
    assert (config.judge, config.method, config.routed_sample_rate, config.cache_sample_rate) == \
        ("premium", "single", 0.02, 0.05)
    assert (config.max_usd_per_day, config.max_share_of_savings, config.max_prompt_chars) == (5.0, 0.1, 16_000)
    assert (config.alert_drop, config.min_audits) == (0.05, 20)
    assert QualityConfig(enabled=True).enabled


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("routed_sample_rate", 2, "use a number from 0 to 1"),
    ("cache_sample_rate", -0.1, "use a number from 0 to 1"),
    ("max_share_of_savings", 1.5, "use a number from 0 to 1"),
    ("max_usd_per_day", -1, "USD >= 0"),
    ("max_usd_per_day", float("inf"), "USD >= 0"),
    ("alert_drop", 1.0, "e.g. 0.05"),
    ("max_prompt_chars", 0, "use a positive number"),
    ("min_audits", 1, "use 2 or more"),
    ("max_tenants", -1, "use 0"),
    ("judge", "my judge", "model_name of a model_list entry"),
])
def test_a_wrong_value_names_the_key_and_the_fix(key, value, fix):
    [line] = problems(**{key: value})

    assert line.startswith(f"costroute.quality.{key}: ") and fix in line


def test_an_unknown_key_suggests_the_right_one():
    [line] = problems(sample_rate=0.1)

    assert line.startswith("costroute.quality.sample_rate: unknown key. Fix:") and "routed_sample_rate" in line


def test_an_unknown_method_lists_the_choices():
    [line] = problems(method="elo")

    assert line.startswith("costroute.quality.method:") and "'single' or 'pairwise'" in line and "Fix" in line


@pytest.mark.parametrize(("values", "named"), [
    ({"max_usd_per_day": 0}, "max_usd_per_day"),
    ({"max_share_of_savings": 0}, "max_share_of_savings"),
    ({"routed_sample_rate": 0, "cache_sample_rate": 0}, "routed_sample_rate"),
])
def test_enabled_audits_that_could_never_run_are_refused(values, named):
    [line] = problems(enabled=True, **values)

    assert named in line and "Fix:" in line and "enabled: false" in line
    QualityConfig(enabled=False, **values)  # off, the same values are harmless


def test_settings_are_frozen():
    with pytest.raises(ValidationError):
        QualityConfig().enabled = True  # type: ignore[misc]
