"""``costroute eval-admission``: what the cache's admission policy would refuse or expire early on a prompt set.

Before turning the cache on for a workload, an operator wants to know how much of it the cache will never
store (personal data, credentials, time-sensitive questions) and why: a detector or a TTL rule that fires on
a large share of ordinary prompts is a false positive to fix, not a cost of safety. The command prints, per
PII detector and per TTL rule, the share of prompts it fires on, with examples of what it matched.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costroute_plugins.cache.admission import AdmissionPolicy
from costroute_plugins.cache.freshness import rule_label
from costroute_plugins.cli.errors import CliError
from costroute_plugins.cli.options import add_json_flag

# Fields tried in order when --field is not given; "a"/"b" (a pairs file) are both prompts.
AUTO_FIELDS: tuple[str, ...] = ("prompt", "question", "messages", "turns", "a", "b", "text", "query", "input")
_SNIPPET = 60


class PromptsFileError(ValueError):
    """The file cannot be read as prompts; the message names the file (and line) and what is wrong."""


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Share of a prompt set refused by each PII detector and given TTL 0 or a short TTL by "
                          "each time-sensitivity rule of the cache's admission policy, with examples.")
    parser.add_argument("file", metavar="FILE", help="prompts as JSONL (or CSV with a header row)")
    parser.add_argument("--field", action="append",
                        help="field holding the prompt: a string, a list of strings, or chat messages "
                             f"(repeatable; default: the first present of {', '.join(AUTO_FIELDS)}; a and b both)")
    parser.add_argument("--examples", type=int, default=3, help="examples shown per detector and rule (default 3)")
    parser.add_argument("--limit", type=int, help="read only the first N rows")
    parser.add_argument("--config", help="JSON file of semantic cache settings whose admission to use "
                                         "(default: built-in defaults)")
    add_json_flag(parser)
    parser.set_defaults(func=run)


def _texts(value: Any) -> list[str]:
    """Prompt texts in a field: a string, a list of them, or chat messages (the user's turns only)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        if value.get("role", "user") != "user":
            return []
        content = value.get("content")
        if isinstance(content, list):  # OpenAI content parts
            return ["\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))]
        return _texts(content)
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def prompts_of(row: Mapping[str, Any], fields: Sequence[str] | None) -> list[str]:
    """The prompts of one row: the given fields, else the first auto-detected one (both of a pairs file's a, b)."""
    if fields:
        return [text for name in fields for text in _texts(row.get(name))]
    for name in AUTO_FIELDS:
        if name in row:
            if name in ("a", "b"):
                return [text for pair in ("a", "b") for text in _texts(row.get(pair))]
            return _texts(row[name])
    return []


def _rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, object) of each row; CSV files by extension, anything else JSON Lines."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, row
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise PromptsFileError(
                    f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
            if not isinstance(row, Mapping):
                raise PromptsFileError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def load_prompts(path: Path, fields: Sequence[str] | None, limit: int | None = None) -> list[str]:
    """Every prompt of the first ``limit`` rows; PromptsFileError names the file, the line and the problem."""
    prompts: list[str] = []
    try:
        for count, (number, row) in enumerate(_rows(path)):
            if limit is not None and count >= limit:
                break
            found = prompts_of(row, fields)
            if not found:
                wanted = ", ".join(fields or AUTO_FIELDS)
                raise PromptsFileError(f"{path}:{number}: no prompt text in any of: {wanted} (choose with --field)")
            prompts.extend(found)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PromptsFileError(f"{path}: {getattr(error, 'strerror', None) or error}") from None
    return prompts


@dataclass
class Tally:
    """Prompts one detector or rule fired on, the phrases it matched, and the first few examples."""

    count: int = 0
    phrases: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, match: re.Match[str], keep: int) -> None:
        self.count += 1
        self.phrases[match.group(0).lower()[:40]] += 1
        if len(self.examples) < keep:
            self.examples.append(_snippet(match))


def _snippet(match: re.Match[str]) -> str:
    """The match with some text either side (of the text it was found in: TTL rules search the prompt's own
    question), on one line: enough to judge a false positive."""
    text = match.string
    start, end = max(0, match.start() - _SNIPPET), min(len(text), match.end() + _SNIPPET)
    core = f"{text[start:match.start()]}[[{match.group(0)}]]{text[match.end():end]}"
    return ("…" if start else "") + " ".join(core.split()) + ("…" if end < len(text) else "")


def evaluate(prompts: Sequence[str], policy: AdmissionPolicy, examples: int) -> dict[str, Any]:
    """Per detector and per rule: share of prompts it fires on, top phrases, examples; and the shares refused,
    never cached (TTL 0) and kept for less than the default TTL."""
    detectors: dict[str, Tally] = {}
    rules: dict[tuple[str, float], Tally] = {}
    refused = never = short = 0
    default = policy.default_ttl_s
    for prompt in prompts:
        found = list(policy.secrets_in(prompt))
        for name, match in found:
            detectors.setdefault(name, Tally()).add(match, examples)
        refused += bool(found)
        ttls = []
        for pattern, rule_ttl, match in policy.time_rules_in(prompt):
            rules.setdefault((rule_label(pattern), rule_ttl), Tally()).add(match, examples)
            ttls.append(rule_ttl)
        ttl = min(ttls, default=default)
        never += ttl is not None and ttl <= 0
        short += ttl is not None and 0 < ttl and (default is None or ttl < default)
    n = max(len(prompts), 1)

    def row(tally: Tally, **extra: Any) -> dict[str, Any]:
        return {**extra, "count": tally.count, "share": round(tally.count / n, 5),
                "top_phrases": dict(tally.phrases.most_common(5)), "examples": tally.examples}

    return {
        "prompts": len(prompts),
        "refused_pii": {"count": refused, "share": round(refused / n, 5)},
        "ttl_0": {"count": never, "share": round(never / n, 5)},
        "short_ttl": {"count": short, "share": round(short / n, 5)},
        "detectors": [row(t, detector=name) for name, t in sorted(detectors.items(), key=lambda i: -i[1].count)],
        "ttl_rules": [row(t, rule=label, ttl_s=ttl)
                      for (label, ttl), t in sorted(rules.items(), key=lambda i: (i[0][1], -i[1].count))],
    }


def _percent(part: Mapping[str, Any]) -> str:
    return f"{100 * part['share']:6.2f}% {part['count']:>7}"


def render(summary: Mapping[str, Any], source: str) -> str:
    lines = [f"{source}: {summary['prompts']} prompts",
             f"refused, personal data or credential  {_percent(summary['refused_pii'])}",
             f"never cached, TTL 0                   {_percent(summary['ttl_0'])}",
             f"short TTL (below the default)         {_percent(summary['short_ttl'])}"]
    for title, key, label in (("PII detectors", "detectors", "detector"), ("TTL rules", "ttl_rules", "rule")):
        lines.append(f"\n{title}:" + ("" if summary[key] else " none fired"))
        for item in summary[key]:
            ttl = f" (TTL {item['ttl_s']:g} s)" if "ttl_s" in item else ""
            phrases = ", ".join(f"{p!r} {c}" for p, c in item["top_phrases"].items())
            lines.append(f"  {item[label] + ttl:<30} {_percent(item)}   {phrases}")
            lines.extend(f"      e.g. {example}" for example in item["examples"])
    return "\n".join(lines)


def _policy(config_path: str | None) -> AdmissionPolicy:
    """The admission policy the cache would build from this config (or the defaults)."""
    from costroute_plugins.cache.config import SemanticCacheConfig

    if not config_path:
        return SemanticCacheConfig.parse({}).admission_policy()
    try:
        settings = json.loads(Path(config_path).read_text())
    except json.JSONDecodeError as error:
        raise CliError(f"--config {config_path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    return SemanticCacheConfig.parse(settings).admission_policy()


def run(args: argparse.Namespace) -> int:
    policy = _policy(args.config)
    prompts = load_prompts(Path(args.file), args.field, args.limit)
    summary = evaluate(prompts, policy, args.examples)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else render(summary, args.file))
    return 0
