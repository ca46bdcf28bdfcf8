"""Chatbot Arena outcome data -> canonical outcome rows: arena-bench grades and human-voted battles.

Two public sources: ``arena_bench_v1`` grades 15 models' answers to 300 Arena prompts on a 1-10 scale (a score
of -1 or none means the judge gave no grade), and ``arena_battles`` holds 1,135 battles with a human vote.

- Bench rows: ``scores`` = grade / 10 for every graded model, ``answer_chars`` = each graded model's recorded
  answer length, which the replay uses to size answers realistically.
- Battle rows score the two models that met: winner 1.0 / loser 0.0, ``tie`` 0.5 each, ``tie (bothbad)`` 0.0
  each (neither answer was good enough: the cheap model was as sufficient as the premium one, i.e. not at all).
  Multi-turn battles are dropped: the vote judges answers to later turns whose assistant side is not recorded,
  and the router would be asked about the last turn, not the prompt the vote is filed under.
- The prompt duplicating MT-Bench question 105 ("parking spaces ... CEO, president ...") is dropped from both:
  MT-Bench is an evaluation set (tests/data/MT_BENCH_SOURCE.md) and must not leak into training.

Splits hash the prompt text (``SplitRule``), so a prompt's bench row and all its battles land in one split only
if they carry the same text. Arena users paste one prompt with different spacing or capitals; those variants are
written with one text (the bench's when it has the prompt, else the most frequent), so a near-copy can never sit
in train while its twin is in test.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = "arena_bench_v1"
BATTLES_DIR = "arena_battles"
#: Normalised openings of prompts that are MT-Bench questions (question 105), dropped from training data.
MT_BENCH_DUPLICATES = (
    ("read the below passage carefully and answer the questions with an explanation: at a small company, parking "
     "spaces are reserved for the top executives: ceo, president"),
)
#: Battle verdict -> (model_a score, model_b score).
VERDICTS = {"model_a": (1.0, 0.0), "model_b": (0.0, 1.0), "tie": (0.5, 0.5), "tie (bothbad)": (0.0, 0.0)}


class ArenaError(ValueError):
    """An Arena file is malformed; the message names the file and line."""


@dataclass
class Imported:
    """Rows of one output file and what was left out of it, by reason."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


def normalised(text: str) -> str:
    """The key near-copies of one prompt share: whitespace collapsed, case folded."""
    return " ".join(text.split()).casefold()


def is_mt_bench(text: str) -> bool:
    return normalised(text).startswith(MT_BENCH_DUPLICATES)


def find_sources(src: Path) -> tuple[Path | None, Path | None]:
    """The bench and battles folders under ``src`` (the folder holding both, e.g. ``../shared/data/routing``), or ``src`` itself being one."""
    def first(*candidates: Path) -> Path | None:
        return next((path.parent for path in candidates if path.is_file()), None)

    return (first(src / "question.jsonl", src / BENCH_DIR / "question.jsonl"),
            first(src / "battles.jsonl", src / BATTLES_DIR / "battles.jsonl"))


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield f"{path}:{number}", json.loads(line)
                except json.JSONDecodeError as error:
                    raise ArenaError(f"{path}:{number}: not JSON ({error.msg})") from None


def _turn_text(turn: Any, where: str) -> str:
    """A turn as FastChat writes it: a string, or ``{"content": str}``."""
    text = turn.get("content") if isinstance(turn, Mapping) else turn
    if not isinstance(text, str):
        raise ArenaError(f"{where}: a turn must be text or {{'content': text}}")
    return text


def _answer_chars(folder: Path) -> dict[tuple[str, str], int]:
    """(model, question id) -> length in characters of the model's first-turn answer."""
    lengths = {}
    for path in sorted((folder / "model_answer").glob("*.jsonl")):
        for where, row in _jsonl(path):
            try:
                text = _turn_text(row["choices"][0]["turns"][0], where)
                lengths[(str(row["model_id"]), str(row["question_id"]))] = len(text)
            except (KeyError, IndexError, TypeError):
                raise ArenaError(f"{where}: an answer needs model_id, question_id and choices[0].turns[0]") from None
    return lengths


def bench_rows(folder: Path) -> Imported:
    """One row per graded question, in question order (before prompt texts are unified)."""
    result = Imported()
    grades: dict[str, dict[str, float]] = {}
    for where, row in _jsonl(folder / "model_scores.jsonl"):
        try:
            question, model, score = str(row["question_id"]), str(row["model"]), row["score"]
        except KeyError:
            raise ArenaError(f"{where}: a score row needs question_id, model and score") from None
        if isinstance(score, (int, float)) and 1 <= score <= 10:
            grades.setdefault(question, {})[model] = round(score / 10, 6)
        else:
            result.dropped["ungraded_answer"] += 1
    lengths = _answer_chars(folder)
    for where, row in _jsonl(folder / "question.jsonl"):
        question = str(row.get("question_id"))
        text = _turn_text((row.get("turns") or [None])[0], where)
        if is_mt_bench(text):
            result.dropped["mt_bench_duplicate"] += 1
        elif question not in grades:
            result.dropped["no_grade"] += 1
        else:
            scores = grades[question]
            chars = {model: lengths[(model, question)] for model in scores if (model, question) in lengths}
            result.rows.append({"id": f"arena_bench/{question}", "prompt": text, "scores": scores,
                                **({"answer_chars": chars} if chars else {})})
    return result


def battle_rows(folder: Path) -> Imported:
    """One row per single-turn battle, in file order, scoring the two models that met."""
    result = Imported()
    for where, row in _jsonl(folder / "battles.jsonl"):
        try:
            a, b, verdict, turns = str(row["model_a"]), str(row["model_b"]), row["winner"], row["turns"]
        except KeyError:
            raise ArenaError(f"{where}: a battle needs model_a, model_b, winner and turns") from None
        if verdict not in VERDICTS:
            raise ArenaError(f"{where}: unknown winner {verdict!r} (expected one of {', '.join(VERDICTS)})")
        if not isinstance(turns, list) or not turns:
            raise ArenaError(f"{where}: 'turns' must be a non-empty list of the user's turns")
        text = _turn_text(turns[0], where)
        if len(turns) > 1:
            result.dropped["multi_turn"] += 1
        elif a == b:
            result.dropped["same_model"] += 1
        elif is_mt_bench(text):
            result.dropped["mt_bench_duplicate"] += 1
        else:
            score_a, score_b = VERDICTS[verdict]
            result.rows.append({"id": f"arena_battles/{row.get('question_id', where)}", "prompt": text,
                                "scores": {a: score_a, b: score_b}})
    return result


def unify_prompts(imports: Sequence[Imported], canonical: Imported | None = None) -> int:
    """Give every near-copy of a prompt one text across all ``imports`` (see the module docstring): the text of
    ``canonical`` (the bench) when it has the prompt, else the most frequent, else the first seen. Returns how many
    rows changed text."""
    counts: dict[str, Counter[str]] = {}
    preferred = {normalised(row["prompt"]): row["prompt"] for row in reversed(canonical.rows)} if canonical else {}
    for imported in imports:
        for row in imported.rows:
            counts.setdefault(normalised(row["prompt"]), Counter())[row["prompt"]] += 1
    changed = 0
    for imported in imports:
        for row in imported.rows:
            key = normalised(row["prompt"])
            text = preferred.get(key) or counts[key].most_common(1)[0][0]
            if text != row["prompt"]:
                row["prompt"] = text
                changed += 1
    return changed
