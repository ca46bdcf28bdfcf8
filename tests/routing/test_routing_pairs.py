"""An operator trains the router on rows of several model pairs with `costroute train-router --pair CHEAP=PREMIUM`.

Two outcome files stand in for two sources that grade different cheap models against one premium model: the
first only scores `small-a`, the second scores `small-a` and `small-b` (as Arena grades many models a prompt).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costroute_plugins.cli import main
from costroute_plugins.routing.artifact import load_artifact
from tests.routing.conftest import CHEAP, PREMIUM, SAMPLE


def _write(path: Path, rows: list[dict], cheap_names: tuple[str, ...]) -> Path:
    """The sample rows with the cheap model's score under each of ``cheap_names``."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            scores = {name: row["scores"][CHEAP] for name in cheap_names} | {PREMIUM: row["scores"][PREMIUM]}
            handle.write(json.dumps({"id": row["id"], "prompt": row["prompt"], "scores": scores}) + "\n")
    return path


@pytest.fixture
def two_sources(tmp_path: Path) -> tuple[Path, Path]:
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    return (_write(tmp_path / "only_a.jsonl", rows[:120], ("small-a",)),
            _write(tmp_path / "a_and_b.jsonl", rows[120:], ("small-a", "small-b")))


def test_training_with_two_pairs_learns_from_the_rows_of_both(two_sources: tuple[Path, Path], tmp_path: Path,
                                                             capsys) -> None:
    out = tmp_path / "router.json"

    code = main(["train-router", "--outcomes", *map(str, two_sources), "--pair", f"small-a={PREMIUM}",
                 "--pair", f"small-b={PREMIUM}", "--out", str(out), "--quiet"])

    assert code == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert summary["pairs"] == [f"small-a={PREMIUM}", f"small-b={PREMIUM}"]
    examples = {pair: sum(by_split.values()) for pair, by_split in summary["examples_by_pair"].items()}
    # Every row scores small-a; the 80 rows of the second file give a second example, for small-b.
    assert examples == {f"small-a={PREMIUM}": 200, f"small-b={PREMIUM}": 80}
    assert sum(summary["rows"].values()) == 280
    artifact = load_artifact(out)
    # The first pair is the artifact's pair, and its validation rows calibrate the thresholds.
    assert (artifact.cheap_model, artifact.premium_model) == ("small-a", PREMIUM)
    assert sum(artifact.training["distinct_rows"].values()) == 200
    assert artifact.training["calibrated_on"] == f"pair small-a={PREMIUM}, validation split"
    assert {"quality>=0.94", "share<=0.96"} <= {entry.target for entry in artifact.calibration}


def test_a_pair_no_row_scores_is_a_one_line_error_naming_the_models(two_sources: tuple[Path, Path],
                                                                     tmp_path: Path, capsys) -> None:
    code = main(["train-router", "--outcomes", str(two_sources[0]), "--pair", f"small-b={PREMIUM}",
                 "--out", str(tmp_path / "router.json"), "--quiet"])

    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("costroute train-router: error: ") and len(err.splitlines()) == 1
    assert "no row scores both models of any pair" in err and "small-a" in err


def test_training_needs_a_pair(two_sources: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    code = main(["train-router", "--outcomes", str(two_sources[0]), "--cheap-model", "small-a",
                 "--out", str(tmp_path / "router.json")])

    assert code == 1
    assert "give --cheap-model and --premium-model together" in capsys.readouterr().err
