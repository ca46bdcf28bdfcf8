"""The commands an operator runs: measure the cache on pairs, train the verifier, import MRPC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costroute_plugins.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "cache_pairs_sample.jsonl"


@pytest.fixture(autouse=True)
def private_embedding_memo(tmp_path, monkeypatch):
    monkeypatch.setenv("COSTROUTE_EMB_CACHE", str(tmp_path / "emb"))


def test_eval_cache_prints_one_json_summary_with_a_threshold_sweep(capsys, tmp_path):
    assert main(["eval-cache", "--pairs", str(SAMPLE), "--json", "--plot", str(tmp_path / "pr.png")]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["n"] == 77 and summary["duplicates"] == 40
    assert summary["precision"] == 1.0 and summary["recall"] >= 0.25
    thresholds = [row["threshold"] for row in summary["sweep"]]
    assert thresholds == sorted(thresholds) and summary["threshold"] in thresholds
    assert (tmp_path / "pr.png").stat().st_size > 0
    assert "embedding" in captured.err  # the progress bar goes to stderr, never into the JSON


def test_eval_cache_with_distractors_sorts_every_hit_into_one_class(capsys):
    assert main(["eval-cache", "--pairs", str(SAMPLE), "--distractors", "--limit", "50", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["mode"] == "distractors" and summary["n"] == 50
    for row in [summary, *summary["sweep"]]:
        classes = ("identical_hits", "duplicate_hits", "wrong_hits", "unlabelled_hits")
        assert sum(row[key] for key in classes) == row["hits"]
        if row["precision"] is not None:
            assert row["precision_lower"] <= row["precision"] <= row["precision_upper"]


def test_eval_cache_explains_a_bad_pairs_file(capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x"}\n')
    assert main(["eval-cache", "--pairs", str(bad)]) == 1
    assert "bad.jsonl:1: expected a JSON object with keys a, b, duplicate" in capsys.readouterr().err


def test_train_verifier_writes_an_artifact_the_cache_can_load(capsys, tmp_path):
    positives = [row for row in map(json.loads, SAMPLE.read_text().splitlines()) if row["duplicate"]]
    mismatched = tmp_path / "mismatched.jsonl"  # each question paired with two other ones' paraphrases
    mismatched.write_text("".join(
        json.dumps({"a": row["a"], "b": positives[(i + k) % len(positives)]["b"], "duplicate": False}) + "\n"
        for k in (1, 2) for i, row in enumerate(positives)
    ))
    out = tmp_path / "verifier.json"
    command = ["train-verifier", "--pairs", f"{SAMPLE}@0:40", "--pairs", str(mismatched), "--out", str(out),
               "--floor", "0", "--target-precision", "0.9"]
    assert main(command) == 0
    artifact = json.loads(out.read_text())
    assert artifact["schema_version"] == 3 and artifact["trained_on"][0]["n"] == 40
    assert 50 <= json.loads(capsys.readouterr().out)["candidates"] <= 100  # rules already refuse some
    from costroute_plugins.cache.verifier import LearnedVerifier

    assert LearnedVerifier.load(out, embedder="all-MiniLM-L6-v2").threshold == artifact["threshold"]


def test_import_pairs_turns_mrpc_tsv_into_pairs_jsonl(capsys, tmp_path):
    tsv = tmp_path / "mrpc.tsv"
    tsv.write_text("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                   '1\t1\t2\tHe said "yes".\tHe agreed.\n0\t3\t4\tShares rose 5%.\tShares fell 5%.\n')
    assert main(["import-pairs", str(tsv), "--out", str(tmp_path / "out.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows == [{"a": 'He said "yes".', "b": "He agreed.", "duplicate": True},
                    {"a": "Shares rose 5%.", "b": "Shares fell 5%.", "duplicate": False}]
