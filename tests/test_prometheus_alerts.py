"""The shipped Prometheus alert rules (``deploy/prometheus/alerts.yml``): Prometheus' own tool accepts them and
their unit tests pass, each watches only series costroute really exports (with labels they really have), says
how long, how bad and what to do, and the compose stack's Prometheus loads them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO
from tests.support.exported_series import GROUPING, SELECTOR, SERIES, exported_series, selector_labels

PROMETHEUS = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian/Ubuntu: apt-get install prometheus; .ci/run does)")
WITHOUT = re.compile(r"\bwithout \(([^)]*)\)")
TEMPLATE_LABEL = re.compile(r"\$labels\.([a-z_]+)")
TARGET_LABELS = {"instance", "job"}  # what Prometheus adds to every scraped series


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_accepts_the_alert_rules():
    checked = promtool("check", "rules", str(ALERTS))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


@needs_promtool
def test_the_rules_fire_after_their_for_duration_in_promtools_unit_tests():
    tested = promtool("test", "rules", str(PROMETHEUS / "alerts_test.yml"))

    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_the_shipped_prometheus_config_loads_the_rules(tmp_path: Path):
    # The scrape job's key file exists only inside the compose stack: point it at a stand-in.
    config = (PROMETHEUS / "prometheus.yml").read_text().replace("/run/secrets/litellm_master_key",
                                                                 str(tmp_path / "key"))
    (tmp_path / "key").write_text("sk-test")
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ALERTS, tmp_path / "alerts.yml")

    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules())} rules found" in checked.stdout


def test_every_series_an_alert_watches_is_exported_with_the_labels_it_uses(tmp_path: Path):
    series = exported_series(tmp_path)
    for rule in rules():
        name, expr = rule["alert"], rule["expr"]
        used = SERIES.findall(expr)
        assert used, f"{name}: watches no costroute series"
        unknown = set(used) - set(series)
        assert not unknown, f"{name}: {sorted(unknown)} are not exported by costroute"
        labels = set().union(*(series[used_name] for used_name in used))
        for grouping in GROUPING.findall(expr):
            assert {label.strip() for label in grouping.split(",")} <= labels, f"{name}: groups by a missing label"
        for used_name, matchers in SELECTOR.findall(expr):
            assert selector_labels(matchers) <= series[used_name], f"{name}: selects on a missing label"
        dropped = {label.strip() for grouping in WITHOUT.findall(expr) for label in grouping.split(",")}
        for text in rule["annotations"].values():
            named = set(TEMPLATE_LABEL.findall(text))
            assert named <= (labels | TARGET_LABELS) - dropped, f"{name}: annotation names a label it does not have"


def test_every_alert_says_how_long_how_bad_and_what_to_do():
    for rule in rules():
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"].strip() and len(rule["annotations"]["description"]) > 80, rule["alert"]
    assert len({rule["alert"] for rule in rules()}) == len(rules())


def test_the_alerts_cover_plugins_ledger_budgets_routing_cache_quality_and_affinity():
    used = {name for rule in rules() for name in SERIES.findall(rule["expr"])}

    assert {
        "costroute_plugin_degraded_total", "costroute_ledger_up", "costroute_ledger_spool_bytes",
        "costroute_budget_remaining_usd", "costroute_budget_limit_usd", "costroute_decision_path_total",
        "costroute_quality_wrong_cache_hit_rate", "costroute_quality_overall", "costroute_quality_standing",
        "costroute_affinity_replica_usable",
    } <= used


def test_the_compose_stack_mounts_the_rules_where_prometheus_reads_them():
    prometheus = yaml.safe_load((REPO / "deploy" / "docker-compose.yaml").read_text())["services"]["prometheus"]
    mounted = {target: source for source, target, *_ in (volume.split(":") for volume in prometheus["volumes"])}
    config_dir = Path(next(target for target in mounted if target.endswith("/prometheus.yml"))).parent
    rule_files = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["rule_files"]

    assert rule_files
    for rule_file in rule_files:  # relative paths are read next to the config file
        source = mounted[str(config_dir / rule_file)]
        assert (REPO / "deploy" / source).resolve() == ALERTS
