"""What the operator's own traffic teaches the router: audit and feedback records turned into outcome rows.

The router is trained offline on public outcomes (``routing/outcomes.py``: a prompt and a 0..1 quality per model).
Audits measure the same thing on live traffic: a routed request's answer from a cheaper tier and the top tier's
answer to the same prompt, each rated 1-10 by the judge. So one audit is one outcome row whose scores are keyed
by TIER names, ``{served_tier: served_rating / 10, reference_tier: reference_rating / 10}``, and the router can
be retrained on the prompts it actually serves (``costroute learn``).

Which records become rows, and why the others do not (each skip is counted under its reason, never silent):

- ``routed`` audits graded ``single`` (both ratings) whose texts were stored: a row.
- Texts withheld (the prompt or an answer held personal data, ``Audit.storable``): skipped. Without the prompt
  there is nothing to learn a text classifier from, and the record must not be made to hold it.
- ``cache`` audits: skipped. They grade a cached answer to *another*, similar prompt against a fresh top-tier
  answer: the rating measures how well the cache matched, not whether the cheaper tier's model could answer
  this prompt (the cached answer's tier is often unknown), so it would teach the router the cache's mistakes.
- ``pairwise`` audits (a preference, no ratings): skipped. A preference is a label but not a quality on the
  1-10 scale; APGR adds qualities, so mixing 0/1 preferences with ratings/10 would give those rows another weight.
- Audits without a verdict, or whose served tier is the reference tier: skipped (nothing compared).
- Thumbs feedback that names the tier that answered (``{"kind": "feedback", "rating": "up"|"down",
  "served_tier", "messages"}``) on a tier below the top: a row for training only, ``{served: 1, top: 1}`` for
  a thumbs-up (the cheaper tier was enough) and ``{served: 0, top: 1}`` for a thumbs-down (it was not; that the
  top tier would have done better is assumed, not measured). Feedback on the top tier says nothing about a
  cheaper one and is skipped. Feedback rows never enter validation: users rate mostly the answers they dislike,
  so they are no sample of traffic, and their 0/1 scale is not the judge's.

Pure functions over parsed JSON; reading files and training live in ``routing/cli_learn.py``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from costroute_plugins.quality.audit import AUDIT_SCHEMA
from costroute_plugins.quality.judge import MAX_RATING

Source = Literal["audit", "feedback"]


class RecordsError(ValueError):
    """A records file is not JSON lines of audit or feedback records."""


@dataclass(frozen=True)
class OwnRow:
    """One outcome row learned from traffic: the prompt, a 0..1 score per tier, and where it came from."""

    id: str
    messages: tuple[dict[str, Any], ...]
    scores: Mapping[str, float]
    source: Source
    tenant: str = ""

    @property
    def tiers(self) -> tuple[str, str]:
        """(served tier, reference tier): the pair of tiers this row compares."""
        served, reference = self.scores
        return served, reference

    def outcome(self, names: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The row in outcomes-JSONL form; ``names`` renames tiers (e.g. to the public data's model names, so
        the row trains beside public rows that score the same pair under other names)."""
        names = names or {}
        return {"id": self.id, "messages": [dict(m) for m in self.messages],
                "scores": {names.get(tier, tier): score for tier, score in self.scores.items()}}


@dataclass
class LearnedRows:
    """The rows records gave, and how many records gave none, by reason (what ``costroute learn`` reports)."""

    rows: list[OwnRow] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def audit_rows(self) -> list[OwnRow]:
        return [row for row in self.rows if row.source == "audit"]

    def pairs(self) -> Counter[tuple[str, str]]:
        """How many rows compare each (served, reference) pair of tiers."""
        return Counter(row.tiers for row in self.rows)

    def summary(self) -> dict[str, Any]:
        return {"rows": len(self.rows), "audit_rows": len(self.audit_rows),
                "feedback_rows": len(self.rows) - len(self.audit_rows),
                "pairs": {f"{served}->{reference}": n for (served, reference), n in sorted(self.pairs().items())},
                "skipped": dict(sorted(self.skipped.items()))}


def _messages(record: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | None:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return None
    return tuple(messages)


def _rating(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return min(max(float(value), 0.0), MAX_RATING) / MAX_RATING


def audit_row(record: Mapping[str, Any]) -> OwnRow | str:
    """An audit record (``Audit.storable()``) as a row, or the reason it gives none."""
    if record.get("schema") != AUDIT_SCHEMA:
        return f"audit schema {record.get('schema')!r} (this costroute reads {AUDIT_SCHEMA})"
    if record.get("kind") != "routed":
        return "cache audit (grades the cache's match, not the tier)" if record.get("kind") == "cache" \
            else f"audit kind {record.get('kind')!r}"
    served, reference = record.get("served_tier"), record.get("reference_tier")
    if not served or not reference or served == reference:
        return "no cheaper tier compared"
    if record.get("texts_withheld"):
        return "texts withheld (personal data)"
    served_score, reference_score = _rating(record.get("served_rating")), _rating(record.get("reference_rating"))
    if served_score is None or reference_score is None:
        return "pairwise preference (no ratings)" if record.get("preference") else "no verdict"
    messages = _messages(record)
    if messages is None:
        return "no messages stored"
    return OwnRow(id=f"audit/{record.get('request_id', '')}", messages=messages,
                  scores={str(served): served_score, str(reference): reference_score}, source="audit",
                  tenant=str(record.get("tenant", "")))


def feedback_row(record: Mapping[str, Any], top_tier: str) -> OwnRow | str:
    """A thumbs record as a training row against ``top_tier``, or the reason it gives none."""
    served, rating = record.get("served_tier"), record.get("rating")
    if not served:
        return "feedback without the tier that answered"
    if served == top_tier:
        return "feedback on the top tier"
    if rating not in ("up", "down"):
        return f"feedback rating {rating!r}"
    messages = _messages(record)
    if messages is None:
        return "feedback without messages"
    key = record.get("response_id") or record.get("request_id") or ""
    return OwnRow(id=f"feedback/{key}", messages=messages,
                  scores={str(served): 1.0 if rating == "up" else 0.0, top_tier: 1.0}, source="feedback",
                  tenant=str(record.get("tenant", "")))


def rows_from_records(records: Iterable[Mapping[str, Any]], top_tier: str | None = None) -> LearnedRows:
    """Every record as a row or a counted skip. ``top_tier``: the tier feedback rows are compared with (the
    audits' reference tier when None, i.e. the most common one among them)."""
    records = list(records)
    if top_tier is None:
        references = Counter(r.get("reference_tier") for r in records
                             if r.get("kind") != "feedback" and r.get("reference_tier"))
        top_tier = references.most_common(1)[0][0] if references else None
    learned = LearnedRows()
    for record in records:
        if record.get("kind") == "feedback":
            found = feedback_row(record, top_tier) if top_tier else "feedback, and no audit names the top tier"
        else:
            found = audit_row(record)
        if isinstance(found, str):
            learned.skipped[found] += 1
        else:
            learned.rows.append(found)
    return learned


def read_records(paths: Sequence[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """All records of the JSONL files, in order; a malformed line fails with its file and line number."""
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise RecordsError(f"{path}:{number}: not JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise RecordsError(f"{path}:{number}: a record is a JSON object (an audit or a feedback)")
                records.append(record)
    return records


def default_pair(learned: LearnedRows) -> tuple[str, str] | None:
    """The (cheap, premium) tiers most audits compare: what ``costroute learn`` trains when not told."""
    pairs = Counter(row.tiers for row in learned.audit_rows)
    return pairs.most_common(1)[0][0] if pairs else None


def rows_for_pair(learned: LearnedRows, cheap: str, premium: str) -> tuple[list[OwnRow], int]:
    """The rows comparing ``cheap`` with ``premium``, and how many compare another pair. The router learns one
    pair at a time: a row rating a middle tier against the top says nothing about the cheapest one."""
    kept = [row for row in learned.rows if row.tiers == (cheap, premium)]
    return kept, len(learned.rows) - len(kept)
