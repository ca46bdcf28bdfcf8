"""The routing commands as a user runs them: import RouteLLM data, train, evaluate, calibrate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from costroute_plugins.cli import main
from costroute_plugins.routing.artifact import load_artifact
from costroute_plugins.routing.router import load_router
from tests.routing.conftest import CHEAP, PREMIUM, SAMPLE

MODELS = ["--cheap-model", CHEAP, "--premium-model", PREMIUM]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_import_routellm_writes_outcomes_and_drops_contaminated_prompts(tmp_path: Path, capsys) -> None:
    src = tmp_path / "routellm"
    _write_csv(src / "gsm8k_responses.csv", ["prompt", CHEAP, PREMIUM, f"{CHEAP}_response", f"{PREMIUM}_response"],
               [["2+2?", "True", "True", "4", "4"], ["Leaked?", "False", "True", "x", "y"]])
    _write_csv(src / "mmlu" / "mmlu_anatomy.csv", ["prompt", CHEAP, PREMIUM], [["Bones?\nA. 1\nB. 2", "False", "True"]])
    (src / "gsm8k_contaminated_prompts.jsonl").write_text(json.dumps({"train_prompt": "x", "eval_prompt": "Leaked?"}))

    assert main(["import-routellm", str(src), "--out-dir", str(tmp_path / "out")]) == 0

    assert "1 contaminated prompts dropped" in capsys.readouterr().out
    gsm8k = [json.loads(line) for line in (tmp_path / "out" / "gsm8k.jsonl").read_text().splitlines()]
    assert gsm8k == [{"id": "gsm8k/0", "prompt": "2+2?", "scores": {CHEAP: 1.0, PREMIUM: 1.0}}]
    mmlu = json.loads((tmp_path / "out" / "mmlu.jsonl").read_text())
    assert mmlu["id"] == "mmlu/anatomy/0" and mmlu["scores"] == {CHEAP: 0.0, PREMIUM: 1.0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("router") / "router.json"
    assert main(["train-router", "--outcomes", str(SAMPLE), *MODELS, "--out", str(out), "--quiet"]) == 0
    return out


def test_train_router_writes_a_calibrated_artifact(trained: Path) -> None:
    artifact = load_artifact(trained)
    assert {entry.target for entry in artifact.calibration} >= {"quality>=0.95", "share<=0.30"}
    assert artifact.training["rows"]["test"] > 0 and artifact.cheap_model == CHEAP


def test_eval_router_prints_one_json_line_per_method(trained: Path, tmp_path: Path, capsys) -> None:
    plot = tmp_path / "pgr.png"
    code = main(["eval-router", "--outcomes", str(SAMPLE), *MODELS, "--router-artifact", str(trained),
                 "--baseline", "random", "--baseline", "length", "--baseline", "litellm-heuristic", "--plot", str(plot),
                 "--json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["method"] for line in lines] == ["costroute-logistic", "random", "length", "litellm-heuristic"]
    for line in lines:
        assert line["n"] == 200 and 0.0 <= line["cpt50"] <= line["cpt80"] <= 1.0 and 0.0 < line["apgr"] < 1.0
    assert plot.stat().st_size > 0


def test_calibrate_prints_the_threshold_and_stores_it_for_the_router(trained: Path, tmp_path: Path,
                                                                     capsys) -> None:
    out = tmp_path / "calibrated.json"
    code = main(["calibrate", "--router-artifact", str(trained), "--outcomes", str(SAMPLE), "--split", "all",
                 "--quality-target", "0.97", "--cheap-cost", "0.24", "--premium-cost", "10", "--out", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "quality>=0.97" and report["quality"] >= 0.97 and report["n"] == 200
    assert 0.0 < report["cost_vs_all_premium"] <= 1.0
    router = load_router({"artifact": str(out), "tiers": [
        {"name": "cheap"}, {"name": "premium", "cost_per_mtok": 10, "enter_at": "quality>=0.97"}]})
    assert router.thresholds == [report["threshold"]]


def test_commands_report_bad_input_without_a_traceback(tmp_path: Path, capsys) -> None:
    assert main(["eval-router", "--outcomes", str(SAMPLE), "--cheap-model", "nobody", "--premium-model", PREMIUM,
                 "--router-artifact", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err and len(err.splitlines()) == 1
