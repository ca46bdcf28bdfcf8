"""An operator imports Chatbot Arena data with `costroute import-arena` and gets outcomes JSONL to train on.

The fixture is a miniature of the two public Arena folders (``../shared/DATA.md``): graded answers (arena_bench_v1/) and human-voted
battles (arena_battles/), with the MT-Bench duplicate, an ungraded answer and a multi-turn battle in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from costroute_plugins.cli import main
from costroute_plugins.routing.outcomes import SplitRule, read_outcomes

GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.1"
HAIKU = "Write a haiku about autumn leaves number 3"
HAIKU_AS_TYPED_IN_A_BATTLE = "write a haiku about  autumn leaves number 3 "
RECURSION = "Explain recursion to a child."
PARKING = ("Read the below passage carefully and answer the questions with an explanation:\nAt a small company, "
           "parking spaces are reserved for the top executives: CEO, president, vice president, secretary, and "
           "treasurer with the spaces lined up in that order.")


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _answer(question: str, model: str, text: str) -> dict[str, Any]:
    return {"question_id": question, "model_id": model, "choices": [{"index": 0, "turns": [text]}]}


def _battle(question: str, a: str, b: str, winner: str, *turns: str) -> dict[str, Any]:
    return {"question_id": question, "model_a": a, "model_b": b, "winner": winner, "turns": list(turns)}


def arena_folder(root: Path) -> Path:
    bench, battles = root / "arena_bench_v1", root / "arena_battles"
    _jsonl(bench / "question.jsonl", [{"question_id": q, "turns": [text]}
                                      for q, text in (("q1", HAIKU), ("q2", RECURSION), ("q3", PARKING))])
    _jsonl(bench / "model_scores.jsonl", [
        {"question_id": "q1", "model": GPT4, "score": 9}, {"question_id": "q1", "model": MIXTRAL, "score": 7},
        {"question_id": "q1", "model": MISTRAL, "score": -1},
        {"question_id": "q2", "model": GPT4, "score": 10}, {"question_id": "q2", "model": MIXTRAL, "score": None},
        {"question_id": "q2", "model": MISTRAL, "score": 2},
        {"question_id": "q3", "model": GPT4, "score": 9}, {"question_id": "q3", "model": MIXTRAL, "score": 9},
    ])
    _jsonl(bench / "model_answer" / "gpt-4-1106-preview.jsonl",
           [_answer("q1", GPT4, "Leaves drift and fall"), _answer("q2", GPT4, "A function calling itself.")])
    _jsonl(bench / "model_answer" / "Mixtral-8x7B-Instruct-v0.1.jsonl", [_answer("q1", MIXTRAL, "Red leaves")])
    _jsonl(bench / "model_answer" / "Mistral-7B-Instruct-v0.1.jsonl", [_answer("q2", MISTRAL, "Loops.")])
    _jsonl(battles / "battles.jsonl", [
        _battle("b1", "gpt-4", "vicuna-13b", "model_a", HAIKU_AS_TYPED_IN_A_BATTLE),
        _battle("b2", "vicuna-13b", "gpt-4", "tie (bothbad)", HAIKU),
        _battle("b3", "claude-1", "gpt-4", "tie", RECURSION),
        _battle("b4", "koala-13b", "gpt-4", "model_b", "Name a prime."),
        _battle("b5", "gpt-4", "koala-13b", "model_a", "Hi", "And then?"),
        _battle("b6", "gpt-4", "claude-1", "model_b", PARKING),
    ])
    return root


def test_import_arena_writes_graded_answers_and_battles_as_outcomes(tmp_path: Path, capsys) -> None:
    src = arena_folder(tmp_path / "routing")

    assert main(["import-arena", str(src), "--out-dir", str(tmp_path / "out")]) == 0

    out = capsys.readouterr().out
    assert "2 ungraded answers (score -1 or none), 1 MT-Bench duplicate" in out
    assert "1 multi-turn battles, 1 MT-Bench duplicate" in out
    bench = [json.loads(line) for line in (tmp_path / "out" / "arena_bench.jsonl").read_text().splitlines()]
    # Grades become 0..1, ungraded answers and the MT-Bench question are gone, answer lengths come along.
    assert bench == [
        {"id": "arena_bench/q1", "prompt": HAIKU, "scores": {GPT4: 0.9, MIXTRAL: 0.7},
         "answer_chars": {GPT4: len("Leaves drift and fall"), MIXTRAL: len("Red leaves")}},
        {"id": "arena_bench/q2", "prompt": RECURSION, "scores": {GPT4: 1.0, MISTRAL: 0.2},
         "answer_chars": {GPT4: len("A function calling itself."), MISTRAL: len("Loops.")}},
    ]
    battles = {row.id: row for row in read_outcomes(tmp_path / "out" / "arena_battles.jsonl")}
    # Winner 1 / loser 0, a tie 0.5 each, "both bad" 0 each; multi-turn and MT-Bench battles are dropped.
    assert {id_: dict(row.scores) for id_, row in battles.items()} == {
        "arena_battles/b1": {"gpt-4": 1.0, "vicuna-13b": 0.0},
        "arena_battles/b2": {"vicuna-13b": 0.0, "gpt-4": 0.0},
        "arena_battles/b3": {"claude-1": 0.5, "gpt-4": 0.5},
        "arena_battles/b4": {"koala-13b": 0.0, "gpt-4": 1.0},
    }


def test_a_prompt_in_both_files_lands_in_one_split(tmp_path: Path, capsys) -> None:
    src = arena_folder(tmp_path / "routing")
    rule = SplitRule()
    # As typed, the battle's copy of the prompt would hash into another split than the bench's.
    assert rule.split_of(HAIKU) != rule.split_of(HAIKU_AS_TYPED_IN_A_BATTLE)

    assert main(["import-arena", str(src), "--out-dir", str(tmp_path / "out"), "--json"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["dataset"] for line in lines] == ["arena_bench", "arena_battles"]
    assert lines[1]["prompts_unified"] == 1
    rows = read_outcomes(tmp_path / "out" / "arena_bench.jsonl") + read_outcomes(
        tmp_path / "out" / "arena_battles.jsonl")
    haiku = [row for row in rows if "haiku" in row.text]
    assert [row.id for row in haiku] == ["arena_bench/q1", "arena_battles/b1", "arena_battles/b2"]
    assert {row.text for row in haiku} == {HAIKU}
    assert {rule.split_of(row.text) for row in haiku} == {rule.split_of(HAIKU)}


def test_import_arena_on_a_folder_without_arena_data_is_one_line_error(tmp_path: Path, capsys) -> None:
    assert main(["import-arena", str(tmp_path), "--out-dir", str(tmp_path / "out")]) == 1

    err = capsys.readouterr().err
    assert err.startswith("costroute import-arena: error: ") and "question.jsonl" in err
    assert len(err.strip().splitlines()) == 1
