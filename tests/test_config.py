"""An operator writes the costroute section; mistakes are named with their fix before the proxy serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from costroute_plugins.config import CostrouteConfigError, load_config, parse_config
from costroute_plugins.harness import config_edits
from tests.harness import PROXY_CONFIG, refused_start, write_config


def test_no_section_gives_working_defaults():
    config = parse_config(None)

    assert config.tiers == ["cheap", "balanced", "premium"]
    assert config.routing.mode == "enforce"
    # Without costroute a client gets the top tier: that is what failures, shadow and off serve.
    assert config.routing.baseline_tier == "premium"
    assert config.cache.enabled is False


def test_the_shipped_proxy_config_is_valid():
    config = load_config(PROXY_CONFIG)

    assert config.tiers == ["cheap", "balanced", "premium"]


def test_misspelled_key_is_named_with_a_suggestion():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"routing": {"mdoe": "shadow"}})

    assert "costroute.routing.mdoe: unknown key" in str(error.value)
    assert "did you mean 'mode'?" in str(error.value)


def test_bad_value_names_the_key_and_the_value():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"routing": {"mode": "fast"}})

    message = str(error.value)
    assert "costroute.routing.mode" in message
    assert "'fast'" in message and "'enforce', 'shadow' or 'off'" in message


def test_baseline_tier_must_be_one_of_the_tiers():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"tiers": ["small", "large"], "routing": {"baseline_tier": "cheap"}})

    assert "routing.baseline_tier: 'cheap' is not one of tiers ['small', 'large']" in str(error.value)


def test_the_old_default_tier_key_is_refused_with_what_changed():
    with pytest.raises(CostrouteConfigError) as error:
        parse_config({"routing": {"default_tier": "cheap"}})

    assert "default_tier was renamed baseline_tier" in str(error.value)
    assert "defaults to the top tier" in str(error.value)


def test_a_litellm_fallback_tier_below_the_baseline_is_refused(tmp_path: Path):
    import yaml

    document = yaml.safe_load(PROXY_CONFIG.read_text())
    auto = next(d for d in document["model_list"] if d["model_name"] == "auto")
    auto["litellm_params"]["complexity_router_config"]["fallback_tier"] = "cheap"
    path = tmp_path / "fails-down.yaml"
    path.write_text(yaml.safe_dump(document))

    result = subprocess.run([sys.executable, "-m", "costroute_plugins.cli", "check-config", str(path)],
                            capture_output=True, text=True)

    assert result.returncode == 1
    assert "fallback_tier: 'cheap'" in result.stderr and "Fix: set fallback_tier: premium" in result.stderr


def test_section_that_is_not_a_mapping_is_explained():
    with pytest.raises(CostrouteConfigError, match="must be a mapping"):
        parse_config(["cheap"])  # type: ignore[arg-type]


def test_check_config_command_prints_effective_values_or_the_error(tmp_path: Path):
    good = subprocess.run([sys.executable, "-m", "costroute_plugins.cli", "check-config", str(PROXY_CONFIG)],
                          capture_output=True, text=True)
    bad_path = write_config(tmp_path / "bad.yaml", costroute={"cache": {"enabeld": True}})
    bad = subprocess.run([sys.executable, "-m", "costroute_plugins.cli", "check-config", str(bad_path)],
                         capture_output=True, text=True)

    assert good.returncode == 0 and '"baseline_tier": "premium"' in good.stdout
    assert bad.returncode == 1
    assert "costroute.cache.enabeld: unknown key. Fix: did you mean 'enabled'?" in bad.stderr


def test_proxy_refuses_to_start_on_a_bad_section_and_says_why(tmp_path: Path):
    config = write_config(tmp_path / "bad.yaml", costroute={"routing": {"mode": "sometimes"}})
    proxy = refused_start(config, tmp_path / "proxy.log")

    assert proxy.process.returncode != 0
    assert "costroute.routing.mode: Input should be 'enforce', 'shadow' or 'off'" in proxy.log()


def check_config_with_router_entry(tmp_path: Path, edit) -> subprocess.CompletedProcess:
    """``costroute check-config`` on the shipped config after ``edit`` changed its auto entry's router config."""
    document = config_edits.read_config(PROXY_CONFIG)
    auto = next(d for d in document["model_list"] if d["model_name"] == "auto")
    edit(auto["litellm_params"]["complexity_router_config"])
    path = config_edits.write_config(tmp_path / "edited.yaml", document)
    return subprocess.run([sys.executable, "-m", "costroute_plugins.cli", "check-config", str(path)],
                          capture_output=True, text=True)


def test_router_entry_whose_tiers_do_not_match_costroute_tiers_is_caught_at_load(tmp_path: Path):
    result = check_config_with_router_entry(tmp_path, lambda router: router["tiers"].update(premium="premium-typo"))

    assert result.returncode == 1
    assert "complexity_router_config.tiers.premium: model group 'premium-typo' is not in model_list" in result.stderr


def test_router_entry_litellm_would_silently_drop_is_caught_at_load(tmp_path: Path):
    result = check_config_with_router_entry(tmp_path, lambda router: router.pop("fallback_tier"))

    assert result.returncode == 1
    assert "model_list[3] (auto).litellm_params.complexity_router_config" in result.stderr
    assert "fallback_tier" in result.stderr
