"""An operator picks the cache's mode (on, shadow, off); a mistake is named with its fix before the proxy serves,
and the older `enabled` switch keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from costroute_plugins.cli import main
from costroute_plugins.config import SECTION, CostrouteConfigError, load_config, parse_config
from costroute_plugins.harness.config_edits import read_config
from costroute_plugins.replay.derive import derive
from tests.harness import PROXY_CONFIG, write_config


def test_a_misspelt_mode_names_the_key_the_value_and_the_choices():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"cache": {"mode": "shdow"}})

    assert "costroute.cache.mode: Input should be 'on', 'shadow' or 'off' (got 'shdow'). Fix: change the value of " \
           "costroute.cache.mode" in str(error.value)


@pytest.mark.parametrize(("mode", "enabled"), [("shadow", False), ("on", False), ("off", True)])
def test_mode_and_enabled_that_disagree_name_both_and_the_fix(mode: str, enabled: bool):
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"cache": {"mode": mode, "enabled": enabled}})

    assert f"costroute.cache: mode, enabled: mode {mode!r} and enabled {str(enabled).lower()} disagree. " \
           "Fix: remove enabled" in str(error.value)


@pytest.mark.parametrize(("section", "mode"), [
    ({}, "off"), ({"enabled": True}, "on"), ({"enabled": False}, "off"), ({"mode": "shadow"}, "shadow"),
    ({"mode": "shadow", "enabled": True}, "shadow"),  # shadow runs the cache: an older `enabled: true` agrees
])
def test_enabled_keeps_working_beside_mode(section: dict, mode: str):
    cache = parse_config({"cache": section}).cache

    assert (cache.mode, cache.enabled) == (mode, mode != "off")


def test_unquoted_on_and_off_in_yaml_are_modes(tmp_path: Path):
    path = tmp_path / "config.yaml"
    for written, mode in (("on", "on"), ("off", "off"), ("shadow", "shadow")):
        path.write_text(f"costroute:\n  cache:\n    mode: {written}\n")  # YAML reads bare on/off as true/false

        assert load_config(path).cache.mode == mode


def test_shadow_on_the_shipped_config_needs_only_the_mode(tmp_path: Path):
    path = write_config(tmp_path / "shadow.yaml", PROXY_CONFIG, costroute={"cache": {"mode": "shadow"}})

    assert load_config(path).cache.mode == "shadow"  # beside the shipped `enabled: true`


def test_check_config_warns_that_shadow_without_audits_counts_hits_only(tmp_path: Path, capsys):
    path = write_config(tmp_path / "shadow.yaml", PROXY_CONFIG, costroute={"cache": {"mode": "shadow"}})

    code = main(["check-config", str(path)])

    err = capsys.readouterr().err
    assert code == 0, err
    assert "WARNING costroute.cache.mode: shadow counts would-be hits (costroute_cache_shadow_lookups_total), but " \
           "without quality audits nothing measures how many of them would have been wrong answers. Fix: set " \
           "costroute.quality.enabled: true" in err


@pytest.mark.parametrize("mode", ["shadow", "off"])
def test_a_replay_serves_from_the_cache_whatever_mode_the_config_has(mode: str):
    document = read_config(PROXY_CONFIG)
    document[SECTION]["cache"] = {"mode": mode}
    stubs = {tier: f"http://127.0.0.1:9/{tier}" for tier in ("cheap", "balanced", "premium")}

    derived = derive(document, stubs, "sk-m", [])

    assert parse_config(derived.document[SECTION]).cache.mode == "on"  # a replay measures what hits save
    assert "semantic cache switched on (the config has it off or in shadow mode)" in derived.changes
