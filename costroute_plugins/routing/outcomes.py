"""Outcomes JSONL (per-prompt quality of several models) and the request text every classifier reads.

The format (costroute's canonical one, also ``../shared/DATA.md``'s): ``{"id", "messages" | "prompt", "scores": {model: 0..1},
"costs"?}``. Keeping one reader means training, calibration and evaluation can never disagree on labels.

An optional ``"answer_chars": {model: int}`` keeps each model's recorded answer length (Arena data has the
answers): the replay workload sizes its answers from it instead of a synthetic length. Readers that do not know
the field ignore it, and it stays out of ``data_hash`` so artifacts trained before it keep their fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from costroute_plugins.messages import Message, last_user_text


@dataclass(frozen=True)
class Outcome:
    """One prompt and how well each model answered it."""

    id: str
    messages: tuple[Message, ...]
    scores: Mapping[str, float]
    costs: Mapping[str, float] = field(default_factory=dict)
    answer_chars: Mapping[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return last_user_text(self.messages)


class OutcomesError(ValueError):
    """An outcomes file is malformed or lacks a model the command was asked about."""


def _parse(row: Mapping[str, Any], where: str) -> Outcome:
    if "messages" in row:
        messages = tuple(row["messages"])
    elif "prompt" in row:
        messages = ({"role": "user", "content": row["prompt"]},)
    else:
        raise OutcomesError(f"{where}: row has neither 'messages' nor 'prompt'")
    scores = row.get("scores")
    if not isinstance(scores, Mapping) or not scores:
        raise OutcomesError(f"{where}: row needs a non-empty 'scores' mapping of model -> quality 0..1")
    return Outcome(
        id=str(row.get("id", where)),
        messages=messages,
        scores={str(k): float(v) for k, v in scores.items()},
        costs={str(k): float(v) for k, v in (row.get("costs") or {}).items()},
        answer_chars=_answer_chars(row.get("answer_chars"), where),
    )


def _answer_chars(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(n, int) and n >= 0 for n in value.values()):
        raise OutcomesError(f"{where}: 'answer_chars' must map model -> answer length in characters (int >= 0)")
    return {str(k): int(v) for k, v in value.items()}


def read_outcomes(path: str | os.PathLike[str]) -> list[Outcome]:
    """All rows of one outcomes JSONL file, failing on the first malformed line with its line number."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(_parse(json.loads(line), f"{path}:{number}"))
                except json.JSONDecodeError as error:
                    raise OutcomesError(f"{path}:{number}: not JSON ({error.msg})") from None
    return rows


def write_outcomes(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as JSONL; returns how many were written."""
    count = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


@dataclass(frozen=True)
class PairQualities:
    """Qualities of the cheap and premium model over the same prompts, in row order."""

    cheap: np.ndarray
    premium: np.ndarray

    @property
    def needs_premium(self) -> np.ndarray:
        """The training label: 1 where the cheap model is not sufficient (strictly worse than premium)."""
        return (self.premium > self.cheap).astype(np.int8)


def pair_qualities(rows: Sequence[Outcome], cheap: str, premium: str) -> PairQualities:
    """Quality arrays for two models; every row must score both, so metrics compare like with like."""
    for model in (cheap, premium):
        missing = [row.id for row in rows if model not in row.scores]
        if missing:
            known = sorted({name for row in rows for name in row.scores})
            raise OutcomesError(f"model {model!r} has no score on {len(missing)} rows (e.g. {missing[0]}); "
                                f"models in the data: {', '.join(known)}")
    return PairQualities(
        cheap=np.array([row.scores[cheap] for row in rows], dtype=np.float64),
        premium=np.array([row.scores[premium] for row in rows], dtype=np.float64),
    )


def data_hash(rows: Sequence[Outcome]) -> str:
    """Fingerprint of training rows (ids, texts, scores), recorded in artifacts to tell trainings apart."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row.id, row.text, sorted(row.scores.items())], ensure_ascii=False).encode())
    return digest.hexdigest()


SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitRule:
    """Deterministic split by a hash of the request text, so duplicates of one prompt share a split.

    Stored in the artifact: ``eval-router --split test`` recomputes exactly the rows training never saw.
    """

    salt: str = "costroute-routing-v1"
    validation_percent: int = 15
    test_percent: int = 15

    def split_of(self, text: str) -> str:
        bucket = int(hashlib.sha256((self.salt + "\0" + text).encode()).hexdigest()[:8], 16) % 100
        if bucket < self.test_percent:
            return "test"
        if bucket < self.test_percent + self.validation_percent:
            return "validation"
        return "train"

    def select(self, rows: Sequence[Outcome], split: str) -> list[Outcome]:
        return [row for row in rows if self.split_of(row.text) == split]
