"""`costroute check-config` runs the checks the proxy's start runs, on the whole YAML: every file the start would
refuse fails here with the key at fault and the fix, every degrade it would fall into is a WARNING line, and no
password from the Redis URL or the ledger DSN is ever printed or logged."""

from __future__ import annotations

import ast
import copy
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from costroute_plugins.cli import main
from costroute_plugins.config import parse_config
from costroute_plugins.proxy.config_check import CALLBACKS, check_document
from costroute_plugins.proxy.runtime import load_checked, startup_summary
from tests.harness import PROXY_CONFIG, REPO, refused_start, write_config

SECRET = "s3cret"
REDIS_WITH_PASSWORD = f"redis://:{SECRET}@127.0.0.1:6379/0"
DSN_WITH_PASSWORD = f"postgresql://u:{SECRET}@127.0.0.1/test"
CONTEXT = "costroute_plugins.proxy.plugins.context"


@pytest.fixture(autouse=True)
def _no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis URL and the ledger DSN default to environment variables: each test says what it sets."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("COSTROUTE_LEDGER_DSN", raising=False)


def shipped() -> dict[str, Any]:
    return yaml.safe_load(PROXY_CONFIG.read_text())


def changed(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """proxy_config.yaml with ``change`` applied to its parsed document."""
    document = shipped()
    change(document)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The real CLI entry point, in-process: exit code, stdout, stderr."""
    code = main(["check-config", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_fails_with(result: tuple[int, str, str], *expected: str) -> None:
    code, out, err = result
    assert code == 1, err
    assert out == ""
    for text in expected:
        assert text in err, err
    assert re.search(r"^FAIL .*: \d+ errors?, \d+ warnings?; the proxy would refuse to start$", err.splitlines()[-1])


# -- each configuration the proxy would refuse or silently degrade ---------------------------------------------------
def test_an_uncalibrated_quality_target_fails_naming_the_tier_and_how_to_calibrate_it(tmp_path, capsys):
    def target(document):
        document["costroute"]["routing"]["tiers"][2]["enter_at"] = "quality>=0.77"

    assert_fails_with(check(changed(tmp_path, target), capsys),
                      "ERROR costroute.routing.tiers[2].enter_at: 'quality>=0.77' (tier premium) has no calibrated "
                      "threshold in the router artifact (it has quality>=0.90,",
                      "Fix: use one of those targets, or calibrate this one with `costroute calibrate --data "
                      "<outcomes.jsonl> --quality-target 0.77 --out <artifact.json>`")


def test_callbacks_as_a_bare_string_fail(tmp_path, capsys):
    def bare(document):
        document["litellm_settings"]["callbacks"] = CONTEXT

    assert_fails_with(check(changed(tmp_path, bare), capsys),
                      f"ERROR litellm_settings.callbacks: a bare string ('{CONTEXT}') makes LiteLLM replace its whole "
                      "callback list with that one entry",
                      "Fix: write callbacks as a YAML list, one `- name` per line")


def test_litellms_own_cache_fails(tmp_path, capsys):
    def litellm_cache(document):
        document["litellm_settings"]["cache"] = True

    assert_fails_with(check(changed(tmp_path, litellm_cache), capsys),
                      "ERROR litellm_settings.cache: true installs LiteLLM's own response cache as litellm.cache",
                      "Fix: remove litellm_settings.cache (and cache_params), and cache with "
                      "costroute.cache.enabled: true")


def test_the_ledger_without_a_dsn_fails(tmp_path, capsys):
    path = write_config(tmp_path / "ledger.yaml", costroute={"spend": {"ledger": {"enabled": True}}})

    assert_fails_with(check(path, capsys),
                      "ERROR costroute.spend.ledger.enabled: true needs costroute.spend.ledger.dsn (or "
                      "COSTROUTE_LEDGER_DSN in the environment), and neither is set. Fix: set one, or set "
                      "costroute.spend.ledger.enabled: false")


def test_a_model_group_missing_from_model_list_in_vllm_affinity_fails(tmp_path, capsys):
    path = write_config(tmp_path / "affinity.yaml", costroute={"vllm_affinity": {"model_groups": ["chaep"]}})

    assert_fails_with(check(path, capsys),
                      "ERROR costroute.vllm_affinity.model_groups: 'chaep' is not a model_name in model_list. Fix: use "
                      "one of ['auto', 'balanced', 'cheap', 'premium']")


def test_a_model_group_missing_from_model_list_in_self_hosted_prices_fails(tmp_path, capsys):
    rates = {"input_usd_per_token": 1.9e-8, "output_usd_per_token": 1.9e-7}
    path = write_config(tmp_path / "prices.yaml", costroute={"spend": {"self_hosted_prices": {"chaep": rates}}})

    assert_fails_with(check(path, capsys),
                      "ERROR costroute.spend.self_hosted_prices.chaep: 'chaep' is neither a model_name nor a "
                      "deployment model in model_list, so these rates never apply",
                      "Fix: use one of the model groups ['auto', 'balanced', 'cheap', 'premium'], or remove the entry")


def test_self_hosted_prices_may_name_a_group_or_a_deployment_model(tmp_path, capsys):
    rates = {"input_usd_per_token": 1.9e-8, "output_usd_per_token": 1.9e-7}
    prices = {"cheap": rates, "hosted_vllm/smollm2-135m-instruct": rates, "smollm2-135m-instruct": rates}
    path = write_config(tmp_path / "prices.yaml", costroute={"spend": {"self_hosted_prices": prices}})

    assert check(path, capsys)[0] == 0


def test_costroute_callbacks_without_a_costroute_section_fail(tmp_path, capsys):
    assert_fails_with(check(changed(tmp_path, lambda document: document.pop("costroute")), capsys),
                      "ERROR costroute: the config registers costroute (costroute_plugins.proxy.plugins.context, ",
                      "but has no `costroute:` section, so costroute would run on embedded defaults",
                      "Fix: add a `costroute:` section naming at least your tiers")


def test_a_plugin_registered_without_the_context_plugin_fails(tmp_path, capsys):
    def no_context(document):
        document["litellm_settings"]["callbacks"].remove(CONTEXT)

    assert_fails_with(check(changed(tmp_path, no_context), capsys),
                      "ERROR litellm_settings.callbacks: costroute_plugins.proxy.plugins.budget, "
                      "costroute_plugins.proxy.plugins.cache, costroute_plugins.proxy.plugins.affinity, "
                      "costroute_plugins.proxy.plugins.spend, costroute_plugins.proxy.plugins.quality, the `auto` "
                      "router's classifier need "
                      f"{CONTEXT}, which builds the per-request state",
                      f"Fix: add {CONTEXT} to litellm_settings.callbacks, before the other costroute plugins")


def test_the_context_plugin_after_another_costroute_plugin_fails(tmp_path, capsys):
    def late_context(document):
        callbacks = document["litellm_settings"]["callbacks"]
        callbacks.remove(CONTEXT)
        callbacks.insert(1, CONTEXT)

    assert_fails_with(check(changed(tmp_path, late_context), capsys),
                      f"ERROR litellm_settings.callbacks: {CONTEXT} comes after costroute_plugins.proxy.plugins.budget",
                      f"Fix: list {CONTEXT} before the other costroute plugins")


def test_a_mistyped_costroute_callback_fails_with_a_suggestion(tmp_path, capsys):
    def typo(document):
        document["litellm_settings"]["callbacks"][1] = "costroute_plugins.proxy.plugins.budgte"

    assert_fails_with(check(changed(tmp_path, typo), capsys),
                      "costroute_plugins.proxy.plugins.budgte is not a costroute plugin",
                      "did you mean costroute_plugins.proxy.plugins.budget?")


def test_every_problem_of_a_file_is_listed_at_once(tmp_path, capsys):
    def several(document):
        document["litellm_settings"]["cache"] = True
        document["costroute"]["routing"]["mode"] = "sometimes"

    code, _out, err = check(changed(tmp_path, several), capsys)

    assert code == 1
    assert "ERROR litellm_settings.cache" in err and "ERROR costroute.routing.mode" in err
    assert err.splitlines()[-1].endswith(": 2 errors, 0 warnings; the proxy would refuse to start")


def test_json_gives_scripts_the_verdict_problems_and_masked_config(tmp_path, capsys):
    path = write_config(tmp_path / "json.yaml", costroute={"redis_url": REDIS_WITH_PASSWORD})
    code, out, _err = check_json(path, capsys)
    bad = write_config(tmp_path / "bad.yaml", costroute={"redis_url": REDIS_WITH_PASSWORD,
                                                         "spend": {"ledger": {"enabled": True}}})
    bad_code, bad_out, _err = check_json(bad, capsys)

    assert code == 0 and out["ok"] is True and out["errors"] == out["warnings"] == []
    assert out["config"]["redis_url"] == "redis://:***@127.0.0.1:6379/0"
    assert bad_code == 1 and bad_out["ok"] is False and bad_out["config"] is None
    assert bad_out["errors"][0].startswith("costroute.spend.ledger.enabled: true needs costroute.spend.ledger.dsn")
    assert SECRET not in json.dumps([out, bad_out])


def check_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(["check-config", str(path), "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_the_check_list_knows_every_callback_plugins_py_exports():
    tree = ast.parse((REPO / "costroute_plugins" / "proxy" / "plugins.py").read_text())
    exported = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "__all__")

    assert set(exported) == {*CALLBACKS, "classifier"}


# -- deliberate degrades warn and pass; the shipped configs pass -----------------------------------------------------
def test_a_router_artifact_that_cannot_load_stops_the_start_unless_a_degraded_start_is_allowed(tmp_path, capsys):
    broken = tmp_path / "router.json"
    broken.write_text("{not json")
    refused = write_config(tmp_path / "broken.yaml", costroute={"routing": {"artifact": str(broken)}})
    allowed = write_config(tmp_path / "degraded.yaml", costroute={"routing": {"artifact": str(broken),
                                                                              "allow_degraded_start": True}})

    assert_fails_with(check(refused, capsys), "ERROR costroute.routing.artifact: the router cannot load",
                      "set costroute.routing.allow_degraded_start: true")
    code, out, err = check(allowed, capsys)
    assert code == 0, err
    assert "WARNING costroute.routing.artifact: the router cannot load" in err
    assert "every `auto` request is served baseline_tier premium" in err
    assert out.splitlines()[-1] == f"OK {allowed}: 0 errors, 1 warning"


def test_the_shipped_proxy_config_passes_through_the_real_command():
    result = subprocess.run([sys.executable, "-m", "costroute_plugins.cli", "check-config", str(PROXY_CONFIG)],
                            capture_output=True, text=True, cwd=REPO)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert '"baseline_tier": "premium"' in result.stdout
    assert result.stdout.splitlines()[-1] == f"OK {PROXY_CONFIG}: 0 errors, 0 warnings"


def test_the_deployed_config_passes_with_the_environment_it_is_deployed_with(monkeypatch, capsys):
    monkeypatch.setenv("COSTROUTE_LEDGER_DSN", f"postgresql://costroute:{SECRET}@postgres:5432/costroute")
    code, out, err = check(REPO / "deploy" / "config" / "proxy_config.yaml", capsys)

    assert code == 0, err
    assert SECRET not in out + err
    assert '"dsn": "postgresql://costroute:***@postgres:5432/costroute"' in out


def test_the_readme_snippet_merged_into_an_existing_config_passes():
    from tests.test_existing_deployment import EXISTING_CONFIG, RENAME, merge_like_an_operator, readme_snippet

    snippet = readme_snippet()
    for tier, group in RENAME.items():
        snippet = re.sub(rf"\b{tier}\b", group, snippet)
    document = merge_like_an_operator(yaml.safe_load(EXISTING_CONFIG.read_text()), yaml.safe_load(snippet))

    result = check_document(document, "readme")
    assert (result.errors, result.warnings) == ([], [])


def test_configs_derived_for_local_serving_and_replays_pass():
    from costroute_plugins.replay.derive import derive
    from costroute_plugins.serve.local_tiers import plan_local_serving

    tiers = parse_config(shipped()["costroute"]).tiers
    served_locally = plan_local_serving(shipped(), tiers, env={}).document
    replayed = derive(shipped(), {tier: "http://127.0.0.1:9/v1" for tier in tiers}, "sk-replay", []).document

    for document in (served_locally, replayed):
        result = check_document(copy.deepcopy(document))
        assert (result.errors, result.warnings) == ([], [])


# -- secrets -----------------------------------------------------------------------------------------------------------
def test_passwords_never_reach_the_printed_effective_config(tmp_path, capsys):
    path = write_config(tmp_path / "secrets.yaml", costroute={
        "redis_url": REDIS_WITH_PASSWORD,
        "spend": {"ledger": {"enabled": True, "dsn": DSN_WITH_PASSWORD},
                  "anomaly": {"webhook_url": f"https://hooks.example.com/services/T0/B0/{SECRET}"}},
    })

    code, out, err = check(path, capsys)

    assert code == 0, err
    assert SECRET not in out + err
    assert '"redis_url": "redis://:***@127.0.0.1:6379/0"' in out
    assert '"dsn": "postgresql://u:***@127.0.0.1/test"' in out
    assert '"webhook_url": "https://hooks.example.com/***"' in out


def test_passwords_never_reach_the_error_lines(tmp_path, capsys):
    path = write_config(tmp_path / "secrets.yaml", costroute={
        "redis_url": f"127.0.0.1:6379?password={SECRET}",  # no scheme: not a Redis URL
        "spend": {"ledger": {"enabled": True, "dsn": f"postgresql//u:{SECRET}@127.0.0.1/test"}},  # psycopg quotes it
    })

    code, out, err = check(path, capsys)

    assert code == 1
    assert SECRET not in out + err
    assert "ERROR costroute.redis_url: '127.0.0.1:6379?password=***' is not a Redis URL" in err
    assert "ERROR costroute.spend.ledger.dsn: 'postgresql//u:***@127.0.0.1/test' is not a PostgreSQL connection " \
           "string" in err


def test_a_webhook_token_never_reaches_a_validation_error(tmp_path, capsys):
    path = write_config(tmp_path / "webhook.yaml", costroute={
        "spend": {"anomaly": {"webhook_url": f"hooks.example.com/services/{SECRET}"}}})

    code, out, err = check(path, capsys)

    assert code == 1
    assert SECRET not in out + err
    assert "ERROR costroute.spend.anomaly.webhook_url: Input should be a valid URL" in err
    assert "(got 'hooks.example.com/***')" in err


def test_the_start_up_log_names_the_endpoints_without_their_passwords(tmp_path, caplog):
    path = write_config(tmp_path / "secrets.yaml", costroute={
        "redis_url": REDIS_WITH_PASSWORD, "spend": {"ledger": {"enabled": True, "dsn": DSN_WITH_PASSWORD}},
        "routing": {"artifact": str(tmp_path / "missing-router.json"), "allow_degraded_start": True},  # a warning
    })

    with caplog.at_level(logging.WARNING, logger="costroute"):
        config = load_checked(str(path))
    lines = startup_summary(config, str(path))

    assert "costroute.routing.artifact: the router cannot load" in caplog.text
    assert SECRET not in caplog.text + "\n".join(lines)
    assert lines[0].endswith("cache on, redis redis://:***@127.0.0.1:6379/0")
    assert lines[1] == "budgets: 1 configured; spend ledger: PostgreSQL postgresql://u:***@127.0.0.1/test table " \
                       "public.costroute_spend"


# -- the proxy's start runs the same check ---------------------------------------------------------------------------
def test_the_proxy_refuses_to_start_on_what_check_config_fails(tmp_path: Path):
    def target(document):
        document["costroute"]["routing"]["tiers"][2]["enter_at"] = "quality>=0.77"
        document["costroute"]["redis_url"] = REDIS_WITH_PASSWORD

    proxy = refused_start(changed(tmp_path, target), tmp_path / "proxy.log")

    assert proxy.process.returncode != 0
    assert "costroute.routing.tiers[2].enter_at: 'quality>=0.77' (tier premium) has no calibrated threshold" \
        in proxy.log()
    assert SECRET not in proxy.log()


def test_a_proxy_started_with_passwords_in_its_config_never_logs_them(tmp_path: Path):
    from tests.harness import start_proxy

    path = write_config(tmp_path / "secrets.yaml", costroute={
        "redis_url": REDIS_WITH_PASSWORD,
        "spend": {"ledger": {"enabled": True, "dsn": DSN_WITH_PASSWORD, "spool_path": str(tmp_path / "spool.jsonl")}},
    })
    proxy = start_proxy(path, tmp_path, env={"OPENAI_API_KEY": "sk-not-used"})
    proxy.stop()

    assert "redis redis://:***@127.0.0.1:6379/0" in proxy.log()
    assert "spend ledger: PostgreSQL postgresql://u:***@127.0.0.1/test" in proxy.log()
    assert SECRET not in proxy.log()


def test_audits_with_a_judge_that_is_not_a_model_group_fail(tmp_path, capsys):
    def unknown_judge(document):
        document["costroute"]["quality"] = {"enabled": True, "judge": "gpt-judge"}

    assert_fails_with(check(changed(tmp_path, unknown_judge), capsys),
                      "ERROR costroute.quality.judge: 'gpt-judge' is not a model_name in model_list",
                      "Fix: use one of ['auto', 'balanced', 'cheap', 'premium']")


def test_audits_without_their_callback_fail(tmp_path, capsys):
    def no_quality_callback(document):
        document["costroute"]["quality"] = {"enabled": True}
        document["litellm_settings"]["callbacks"].remove("costroute_plugins.proxy.plugins.quality")

    assert_fails_with(check(changed(tmp_path, no_quality_callback), capsys),
                      "ERROR costroute.quality.enabled: true, but costroute_plugins.proxy.plugins.quality is not in "
                      "litellm_settings.callbacks", "Fix: add costroute_plugins.proxy.plugins.quality")
