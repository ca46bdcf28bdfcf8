"""What may enter the cache, and for how long.

A cached answer is replayed to other requests, so anything personal or secret in a prompt or a response must
never be stored; answers to time-sensitive questions go stale, so they get a short TTL or none; and broken
responses (errors, truncated output, tool calls that only make sense mid-conversation) must not be replayed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Patterns whose match alone is proof enough.
_SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "openai_key": re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"),
    "aws_access_key": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    "github_token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    "slack_token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "google_api_key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "private_key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "bearer_token": re.compile(
        r"\b(?:bearer|token|api[_-]?key|secret|password)\s*[:=]?\s*['\"]?[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE
    ),
}
# Candidates that need a checksum or shape test before they count, so ordinary numbers are not refused.
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,3}(?![\w-])")
_DATE_LIKE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")
_TOKEN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9_/.-])[A-Za-z0-9_+/=-]{32,}(?![A-Za-z0-9_/.-])")


def luhn_valid(digits: str) -> bool:
    """Card numbers carry a Luhn check digit; random digit runs pass only one time in ten."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to numbers; the result mod 97 is 1."""
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _entropy_bits_per_char(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


def _looks_like_token(token: str) -> bool:
    """Long, mixed letters and digits, high entropy: a credential pasted into a prompt, not a word."""
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    return has_digit and has_alpha and _entropy_bits_per_char(token) >= 3.5


def _checked(pattern: re.Pattern[str], test: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda text: any(test(match.group(0)) for match in pattern.finditer(text))


def _phone(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 9 <= len(digits) <= 15 and not _DATE_LIKE.match(candidate.strip())


_CHECKED_DETECTORS: dict[str, Callable[[str], bool]] = {
    "card_number": _checked(_CARD, lambda m: luhn_valid(re.sub(r"\D", "", m))),
    "iban": _checked(_IBAN, iban_valid),
    "phone": _checked(_PHONE, _phone),
    "high_entropy_token": _checked(_TOKEN_CANDIDATE, _looks_like_token),
}

# Questions whose answer depends on when they are asked. TTL 0 means: never cache.
DEFAULT_TTL_RULES: tuple[tuple[str, float], ...] = (
    (r"\b(?:now|today|tonight|currently|right now|at the moment|latest|breaking|live|"
     r"current(?:ly)? (?:price|time|date|weather|status|news|score|rate|value|version|events?)|"
     r"stock price|exchange rate|weather)\b", 0.0),
    (r"\b(?:this (?:week|weekend|month|morning|afternoon|evening|year)|tomorrow|yesterday|recent(?:ly)?|"
     r"news|upcoming|so far)\b", 3600.0),
)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str
    ttl_s: float | None = None


class AdmissionPolicy:
    """Decides whether a prompt/response may be stored and with which TTL; see the module docstring."""

    def __init__(
        self,
        *,
        default_ttl_s: float | None = 86400.0,
        ttl_rules: Sequence[tuple[str, float]] = DEFAULT_TTL_RULES,
        extra_secret_patterns: Mapping[str, str] | None = None,
        cache_errors: bool = False,
        cache_truncated: bool = False,
        cache_tool_calls: bool = False,
    ) -> None:
        self.default_ttl_s = default_ttl_s
        self.ttl_rules = tuple((re.compile(pattern, re.IGNORECASE), ttl) for pattern, ttl in ttl_rules)
        self.extra_patterns = {name: re.compile(p) for name, p in (extra_secret_patterns or {}).items()}
        self.cache_errors = cache_errors
        self.cache_truncated = cache_truncated
        self.cache_tool_calls = cache_tool_calls

    def secret_in(self, text: str) -> str | None:
        """Name of the first kind of personal data or credential found in ``text``, else None."""
        for name, pattern in (_SECRET_PATTERNS | self.extra_patterns).items():
            if pattern.search(text):
                return name
        for name, detect in _CHECKED_DETECTORS.items():
            if detect(text):
                return name
        return None

    def ttl_for(self, prompt: str) -> float | None:
        """The shortest TTL of the rules the prompt matches; the default when none does. None: no expiry."""
        matching = [ttl for pattern, ttl in self.ttl_rules if pattern.search(prompt)]
        return min(matching) if matching else self.default_ttl_s

    def response_problem(self, response: Mapping[str, Any]) -> str | None:
        """Why an OpenAI-shaped response must not be replayed; other shapes are judged by their text only."""
        if response.get("error") and not self.cache_errors:
            return "response is an error"
        for choice in response.get("choices") or ():
            finish = choice.get("finish_reason")
            message = choice.get("message") or {}
            if finish == "length" and not self.cache_truncated:
                return "response was truncated (finish_reason length)"
            calls_tool = finish in ("tool_calls", "function_call") or bool(
                message.get("tool_calls") or message.get("function_call")
            )
            if calls_tool and not self.cache_tool_calls:
                return "response calls a tool"
            if finish == "content_filter" and not self.cache_errors:
                return "response was filtered"
        return None

    def admit(self, prompt: str, response: Mapping[str, Any], context: Iterable[str] = ()) -> Admission:
        for label, text in (("prompt", prompt), *(("conversation", c) for c in context),
                            ("response", "\n".join(response_texts(response)))):
            found = self.secret_in(text)
            if found:
                return Admission(False, f"{label} contains {found}")
        problem = self.response_problem(response)
        if problem:
            return Admission(False, problem)
        ttl = self.ttl_for(prompt)
        if ttl is not None and ttl <= 0:
            return Admission(False, "prompt is time-sensitive")
        return Admission(True, "admitted", ttl)


_TEXT_KEYS = frozenset({"content", "text", "arguments", "refusal"})


def response_texts(response: Mapping[str, Any]) -> list[str]:
    """The generated text of a response (content, tool arguments), where a user's secret could be echoed.

    Ids and fingerprints are skipped: they are random by design and would read as credentials.
    """
    found: list[str] = []

    def walk(value: Any, generated: bool) -> None:
        if isinstance(value, str):
            if generated:
                found.append(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, generated or key in _TEXT_KEYS)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, generated)

    walk(response, False)
    return found
