"""Workload files for the simulator and benchmark: JSON lines ``{"messages": [...], "max_tokens": N}``.

``synthetic`` builds the shape prefix caching is for: a few long system prompts (one per application or RAG
context) shared by many requests whose user turns differ. Deterministic for a seed, so the benchmark and the
simulator replay the very same requests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_WORDS = ("account billing invoice refund shipping order status warranty repair contract policy clause "
          "customer premium schedule delivery network latency region cluster replica cache token budget tenant "
          "quota report export import ledger audit metric alert dashboard engine worker prompt answer summary "
          "translate classify extract reason verify compare explain list table chart source citation").split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def synthetic(families: int, requests: int, system_words: int = 700, user_words: int = 12, max_tokens: int = 8,
              seed: int = 0, tag: str = "", arrival: str = "rounds") -> list[dict[str, Any]]:
    """``requests`` chat requests over ``families`` shared system prompts.

    ``arrival="rounds"``: steady, equal per-application rates - every application sends once per round, in a
    random order each round. ``"random"``: each request picks an application independently (bursty)."""
    rng = random.Random(seed)
    systems = []
    for family in range(families):
        body = " ".join(_sentence(rng, 14) for _ in range(max(1, system_words // 14)))
        systems.append(f"[{tag}app-{family}] You are assistant number {family} for this product. {body}")
    if arrival == "rounds":
        order: list[int] = []
        while len(order) < requests:
            round_ = list(range(families))
            rng.shuffle(round_)
            order += round_
        order = order[:requests]
    elif arrival == "random":
        order = [rng.randrange(families) for _ in range(requests)]
    else:
        raise ValueError(f"arrival {arrival!r}: use 'rounds' or 'random'")
    return [
        {"family": family, "max_tokens": max_tokens,
         "messages": [{"role": "system", "content": systems[family]},
                      {"role": "user", "content": f"Question {i}: {_sentence(rng, user_words)}"}]}
        for i, family in enumerate(order)
    ]


def write(path: str | Path, rows: list[dict[str, Any]]) -> None:
    Path(path).write_text("".join(json.dumps(row) + "\n" for row in rows))


def read(path: str | Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
            raise ValueError(  # noqa: TRY004  a malformed input file, as json.loads would report it
                f"{path}:{number}: each line needs a 'messages' list (OpenAI chat format)")
        yield row
