"""What may enter the cache, and for how long.

A cached answer is replayed to other requests, so anything personal or secret in a prompt or a response must
never be stored; answers to time-sensitive questions go stale, so they get a short TTL or none; and broken
responses (errors, truncated output, tool calls that only make sense mid-conversation) must not be replayed.

The detectors live in ``pii``, the TTL rules and what they are judged on in ``freshness``; both search long
texts in bounded windows (``scan``), so admitting a 1 MB paste costs time linear in its size.
See docs/cache-admission.md for the decisions and the measured refusal rates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from costroute_plugins.cache import freshness, pii
from costroute_plugins.cache.freshness import DEFAULT_TTL_RULES


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
        self.ttl_rules = freshness.compile_rules(ttl_rules)
        extra = tuple((name, pii.Detector(re.compile(p))) for name, p in (extra_secret_patterns or {}).items())
        replaced = {name for name, _detector in extra}  # an operator pattern of a built-in's name replaces it
        self.detectors = tuple((n, d) for n, d in pii.DETECTORS if n not in replaced) + extra
        self.cache_errors = cache_errors
        self.cache_truncated = cache_truncated
        self.cache_tool_calls = cache_tool_calls

    def secrets_in(self, text: str) -> Iterator[tuple[str, re.Match[str]]]:
        """Each kind of personal data or credential found in ``text``, with what was found; lazily."""
        return pii.found_in(text, self.detectors)

    def secret_in(self, text: str) -> str | None:
        """Name of the first kind of personal data or credential found in ``text``, else None."""
        return next((name for name, _match in self.secrets_in(text)), None)

    def time_rules_in(self, prompt: str) -> Iterator[tuple[re.Pattern[str], float, re.Match[str]]]:
        """The TTL rules matching the prompt's own question (not its quotes, examples or options), with matches."""
        return freshness.matching(self.ttl_rules, freshness.own_question(prompt))

    def ttl_for(self, prompt: str) -> float | None:
        """The shortest TTL of the rules the prompt matches; the default when none does. None: no expiry."""
        matching = [ttl for _pattern, ttl, _match in self.time_rules_in(prompt)]
        return min(matching) if matching else self.default_ttl_s

    def response_problem(self, response: Mapping[str, Any]) -> str | None:
        """Why a response must not be replayed: an error, a truncated or filtered answer, or a tool call, in
        any API's shape the proxy caches (chat and text completions, Anthropic messages, the Responses API)."""
        if response.get("error") and not self.cache_errors:
            return "response is an error"
        for finish, calls_tool in answer_endings(response):
            if finish == "unfinished" and not self.cache_errors:
                return "response did not complete"
            if finish == "length" and not self.cache_truncated:
                return "response was truncated (it hit its token limit)"
            if calls_tool and not self.cache_tool_calls:
                return "response calls a tool"
            if finish == "content_filter" and not self.cache_errors:
                return "response was filtered"
        return None

    def admit(self, prompt: str, response: Mapping[str, Any],
              context: Iterable[str | Mapping[str, Any]] = ()) -> Admission:
        """``context``: the earlier turns, as text or as messages (their content and tool-call arguments)."""
        earlier = (c if isinstance(c, str) else "\n".join(response_texts(c)) for c in context)
        for label, text in (("prompt", prompt), *(("conversation", c) for c in earlier),
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


# Where a model's generated text sits in OpenAI chat (content, refusal, tool_calls, reasoning_content,
# audio.transcript), OpenAI Responses (output[].content[].text, output[].summary[].text, arguments) and Anthropic
# messages (content[].text, .thinking, tool_use .input): every string under these keys is scanned ...
_TEXT_KEYS = frozenset({
    "content", "text", "arguments", "refusal", "reasoning_content", "reasoning", "thinking", "transcript",
    "input", "summary", "output", "output_text", "tool_calls", "function_call",
})
# ... except what is random or encoded by design (ids, signatures, audio, encrypted reasoning), which would
# read as credentials.
_OPAQUE_KEYS = frozenset({
    "id", "call_id", "tool_use_id", "signature", "data", "encrypted_content", "system_fingerprint", "logprobs",
    "type", "role", "status",
})


def response_texts(response: Mapping[str, Any]) -> list[str]:
    """The generated text of a response or message, where a user's secret could be echoed; see _TEXT_KEYS."""
    found: list[str] = []

    def walk(value: Any, generated: bool) -> None:
        if isinstance(value, str):
            if generated:
                found.append(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not (generated and key in _OPAQUE_KEYS):
                    walk(item, generated or key in _TEXT_KEYS)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, generated)

    walk(response, False)
    return found


# How each API says an answer stopped, in chat completions' words.
_ANTHROPIC_STOPS: dict[str | None, str] = {
    "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "length",
    "model_context_window_exceeded": "length"}
_RESPONSES_INCOMPLETE: dict[str | None, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}
# Responses API output items that are an answer's text; any other item is a tool call of some kind.
_RESPONSES_TEXT_ITEMS = frozenset({"message", "reasoning"})


def answer_endings(response: Mapping[str, Any]) -> Iterator[tuple[str | None, bool]]:
    """(why it stopped, whether it calls a tool) for each answer in ``response``; the stop reason uses chat
    completions' words (``stop``, ``length``, ``tool_calls``, ``content_filter``) or ``unfinished``."""
    for choice in response.get("choices") or ():  # chat and text completions
        if isinstance(choice, Mapping):
            message = choice.get("message") or {}
            finish = choice.get("finish_reason")
            yield finish, finish in ("tool_calls", "function_call") or bool(
                isinstance(message, Mapping) and (message.get("tool_calls") or message.get("function_call")))
    if response.get("type") == "message" and "stop_reason" in response:  # Anthropic messages
        reason = response.get("stop_reason")
        blocks = response.get("content") or ()
        yield _ANTHROPIC_STOPS.get(reason, reason), reason == "tool_use" or any(
            isinstance(block, Mapping) and str(block.get("type", "")).endswith("tool_use") for block in blocks)
    if response.get("object") == "response":  # the Responses API
        status = response.get("status")
        details = response.get("incomplete_details") or {}
        reason = details.get("reason") if isinstance(details, Mapping) else None
        finish = "stop" if status == "completed" else (
            _RESPONSES_INCOMPLETE.get(reason, "unfinished") if status == "incomplete" else "unfinished")
        items = response.get("output") or ()
        yield finish, any(isinstance(item, Mapping) and item.get("type") not in _RESPONSES_TEXT_ITEMS
                          for item in items)
