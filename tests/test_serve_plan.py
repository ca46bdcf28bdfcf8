"""`make run` without provider keys: which tiers the launcher serves locally, and what it tells the operator."""

from __future__ import annotations

import pytest
import yaml

from costroute_plugins.config import parse_config
from costroute_plugins.proxy.config_check import check_document
from costroute_plugins.serve.local_ledger import plan_local_ledger
from costroute_plugins.serve.local_tiers import plan_local_serving
from tests.harness import PROXY_CONFIG

TIERS = ["cheap", "balanced", "premium"]


def shipped_config() -> dict:
    return yaml.safe_load(PROXY_CONFIG.read_text())


def test_without_openai_key_hosted_tiers_are_served_by_the_local_vllm_tier():
    plan = plan_local_serving(shipped_config(), TIERS, env={})

    assert [s.tier for s in plan.substitutions] == ["balanced", "premium"]
    assert plan.describe()[0] == (
        "tier balanced: OPENAI_API_KEY is not set -> served locally by hosted_vllm/smollm2-135m-instruct "
        "instead of openai/gpt-4.1-mini"
    )
    groups = {d["model_name"]: d["litellm_params"]["model"] for d in plan.document["model_list"]}
    assert groups["premium"] == "hosted_vllm/smollm2-135m-instruct"
    assert groups["auto"] == "auto_router/complexity_router"


def test_with_the_key_set_every_tier_keeps_its_provider():
    plan = plan_local_serving(shipped_config(), TIERS, env={"OPENAI_API_KEY": "sk-real"})

    assert plan.substitutions == ()
    assert plan.describe() == ["every tier reaches its configured provider"]
    assert plan.document == shipped_config()


def test_a_tier_without_key_and_no_local_tier_is_an_error_that_says_what_to_do():
    config = shipped_config()
    config["model_list"] = [d for d in config["model_list"] if d["model_name"] != "cheap"]

    with pytest.raises(ValueError, match="needs OPENAI_API_KEY, and no tier has a local hosted_vllm/"):
        plan_local_serving(config, TIERS, env={})


def test_a_generated_master_key_is_never_readable_by_others(tmp_path):
    import os
    import stat

    from costroute_plugins.serve.launcher import Progress, _master_key

    previous = os.umask(0)  # the most permissive umask a shell may have
    try:
        env: dict[str, str] = {}
        key = _master_key(env, tmp_path / "state", Progress())
    finally:
        os.umask(previous)

    key_file = tmp_path / "state" / "master_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key.startswith("sk-") and env["LITELLM_MASTER_KEY"] == key == key_file.read_text().strip()
    # A second start reuses it.
    assert _master_key({}, tmp_path / "state", Progress()) == key


def test_without_a_ledger_in_the_config_make_run_writes_one_to_a_file_in_the_state_folder(tmp_path):
    shipped = shipped_config()
    plan = plan_local_ledger(shipped, parse_config(shipped["costroute"]).spend.ledger, tmp_path / ".costroute")

    path = tmp_path / ".costroute" / "spend.jsonl"
    assert plan.file == path
    assert plan.line == (f"spend ledger: none configured -> one JSON line per request in {path} "
                         f"(report: costroute report --rows {path})")
    check = check_document(plan.document)
    assert check.errors == [] and check.config.spend.ledger.file == str(path) and check.config.spend.ledger.enabled
    assert "spend" not in shipped["costroute"]  # proxy_config.yaml itself keeps the ledger off in production


@pytest.mark.parametrize(("ledger", "line"), [
    ({"enabled": True, "dsn": "postgresql://costroute@db/costroute"},
     "spend ledger: PostgreSQL, as configured (report: costroute report --dsn ...)"),
    ({"enabled": False}, "spend ledger: off (spend.ledger.enabled: false in the config)"),
    ({"enabled": True, "file": "var/spend.jsonl"},
     "spend ledger: var/spend.jsonl (report: costroute report --rows var/spend.jsonl)"),
])
def test_a_ledger_the_config_chooses_is_kept_as_it_is(ledger, line, tmp_path):
    config = shipped_config()
    config["costroute"]["spend"] = {"ledger": ledger}

    plan = plan_local_ledger(config, parse_config(config["costroute"]).spend.ledger, tmp_path)

    assert plan.file is None and plan.line == line and plan.document == config
