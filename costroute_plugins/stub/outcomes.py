"""The stub's outcomes mode: each tier answers a known prompt with that tier's recorded outcome.

The savings replay (``costroute replay``) needs tiers whose answers are as good as the outcome data says, with
the token usage and latency of a real answer, and answers it can score afterwards even when the proxy served
them from its cache for a different prompt. So every answer starts with a marker naming the question and the
tier that produced it::

    [costroute-outcome qid=gsm8k/7 tier=cheap score=1]  answer answer answer ...

followed by filler words up to the tier's answer length. The answers file (JSON, ``schema_version`` 1)::

    {"schema_version": 1,
     "tiers": {"cheap": {"ttft_ms": 60, "ms_per_token": 2.0}, ...},
     "prompts": {"<prompt text>": {"qid": "gsm8k/7", "scores": {"cheap": 1.0, ...},
                                   "answer_tokens": {"cheap": 180, ...}}}}

A prompt is looked up by its newest user message; an unknown prompt gets the stub's default answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
FILLER = ("the", "recorded", "answer", "follows", "from", "the", "question", "as", "stated", "above", "step", "by")
MARKER = re.compile(r"\[costroute-outcome q:(?P<tag>[0-9a-f]+) tier:(?P<tier>\S+) score:(?P<score>[0-9.]+)\]")


@dataclass(frozen=True)
class TierTiming:
    """A tier's latency: time to the first token, then a constant decoding speed."""

    ttft_ms: float = 0.0
    ms_per_token: float = 0.0

    def total_ms(self, completion_tokens: int) -> float:
        return self.ttft_ms + self.ms_per_token * completion_tokens


@dataclass(frozen=True)
class RecordedAnswer:
    """What one tier answers to one prompt: marker + filler, its token count and how long it takes."""

    text: str
    completion_tokens: int
    timing: TierTiming


class OutcomesFileError(ValueError):
    """The answers file is missing, not JSON, or lacks the tier the stub serves."""


def qid_tag(qid: str) -> str:
    """The 12-hex-digit digest of a question id that answers carry."""
    return hashlib.sha256(qid.encode()).hexdigest()[:12]


def marker(qid: str, tier: str, score: float) -> str:
    return f"[costroute-outcome q:{qid_tag(qid)} tier:{tier} score:{score:g}]"


def parse_marker(text: str) -> tuple[str, str, float] | None:
    """``(qid tag, tier, score)`` of the answer's marker, or None when the answer carries none."""
    match = MARKER.search(text or "")
    if match is None:
        return None
    return match["tag"], match["tier"], float(match["score"])


class OutcomeBook:
    """The answers one tier gives, keyed by prompt text."""

    def __init__(self, tier: str, timing: TierTiming, prompts: Mapping[str, Mapping[str, Any]]) -> None:
        self.tier = tier
        self.timing = timing
        self.prompts = prompts

    @classmethod
    def load(cls, path: str | os.PathLike[str], tier: str) -> OutcomeBook:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise OutcomesFileError(f"{path}: cannot read the answers file ({error})") from None
        if document.get("schema_version") != SCHEMA_VERSION:
            raise OutcomesFileError(f"{path}: schema_version {document.get('schema_version')!r}, expected "
                                    f"{SCHEMA_VERSION}; rebuild it with `costroute replay`")
        tiers = document.get("tiers") or {}
        if tier not in tiers:
            raise OutcomesFileError(f"{path}: no tier {tier!r} (it has {sorted(tiers)}); pass --tier with one")
        return cls(tier, TierTiming(**tiers[tier]), document.get("prompts") or {})

    def answer(self, prompt: str) -> RecordedAnswer | None:
        entry = self.prompts.get(prompt)
        if entry is None:
            return None
        tokens = int(entry["answer_tokens"][self.tier])
        head = marker(str(entry["qid"]), self.tier, float(entry["scores"][self.tier]))
        # About four characters a token: filler words average ~6.5 with the space, so ~0.6 words a token keeps
        # text and usage close. The words vary: LiteLLM aborts a stream that repeats one chunk too often.
        filler = " ".join(FILLER[index % len(FILLER)] for index in range(max(0, int(tokens * 0.6))))
        return RecordedAnswer(f"{head} {filler}".rstrip(), tokens, self.timing)
