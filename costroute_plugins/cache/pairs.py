"""Paraphrase pair data sets in the formats the evaluation and training commands accept.

The canonical format is pairs JSONL (``{"a", "b", "duplicate"}``). MRPC's TSV and GPTCache's mock_data.json
are read directly, so nobody has to convert them by hand before measuring.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    duplicate: bool


class PairsFormatError(ValueError):
    """A pairs file cannot be read; the message names the file, the line and the expected format."""


def _read_jsonl(path: Path) -> list[Pair]:
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            pairs.append(Pair(str(row["a"]), str(row["b"]), bool(row["duplicate"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise PairsFormatError(
                f"{path}:{number}: expected a JSON object with keys a, b, duplicate ({error})"
            ) from None
    return pairs


def _read_mrpc(path: Path) -> list[Pair]:
    """``Quality, #1 ID, #2 ID, #1 String, #2 String``; read by hand because the strings contain quotes."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines or not lines[0].startswith("Quality"):
        raise PairsFormatError(f"{path}: expected MRPC's header 'Quality\\t#1 ID\\t#2 ID\\t#1 String\\t#2 String'")
    pairs = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 5 or parts[0] not in ("0", "1"):
            raise PairsFormatError(f"{path}:{number}: expected 5 tab-separated fields with Quality 0 or 1")
        pairs.append(Pair(parts[3], parts[4], parts[0] == "1"))
    return pairs


def _read_gptcache_mock(path: Path) -> list[Pair]:
    """GPTCache's benchmark: a JSON list of ``{"origin", "similar"}``, all paraphrases."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [Pair(str(row["origin"]), str(row["similar"]), True) for row in rows]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise PairsFormatError(f"{path}: expected a JSON list of objects with origin and similar ({error})") from None


def load_pairs(path: str | os.PathLike[str], limit: int | None = None) -> list[Pair]:
    """Pairs from ``.jsonl``, MRPC ``.tsv`` or GPTCache ``.json``; ``limit`` keeps the first N."""
    path = Path(path)
    readers = {".jsonl": _read_jsonl, ".tsv": _read_mrpc, ".json": _read_gptcache_mock}
    reader = readers.get(path.suffix)
    if reader is None:
        raise PairsFormatError(f"{path}: unknown pairs format; use .jsonl (a, b, duplicate), MRPC .tsv or .json")
    if not path.is_file():
        raise PairsFormatError(f"{path}: no such file")
    pairs = reader(path)
    return pairs[:limit] if limit is not None else pairs


def write_pairs(pairs: list[Pair], path: str | os.PathLike[str]) -> None:
    with Path(path).open("w", encoding="utf-8") as out:
        out.writelines(json.dumps({"a": pair.a, "b": pair.b, "duplicate": pair.duplicate}, ensure_ascii=False) + "\n"
                       for pair in pairs)


def load_pairs_spec(spec: str, limit: int | None = None) -> list[Pair]:
    """Pairs from ``FILE`` or a part of it, ``FILE@START:END[:STEP]`` as a Python slice of the file's pairs.

    A part keeps training and evaluation apart: ``qqp.jsonl@0::4`` (every fourth pair) to train on and
    ``qqp.jsonl@2::4`` to measure on pairs the verifier never saw.
    """
    path, _, selection = spec.partition("@")
    pairs = load_pairs(path)
    if selection:
        try:
            bounds = [int(part) if part.strip() else None for part in selection.split(":")]
            if len(bounds) not in (2, 3) or bounds[-1] == 0 and len(bounds) == 3:
                raise ValueError
        except ValueError:
            raise PairsFormatError(f"{spec}: expected FILE@START:END or FILE@START:END:STEP, e.g. {path}@0::4") from None
        pairs = pairs[slice(*bounds)]
    return pairs[:limit] if limit is not None else pairs
