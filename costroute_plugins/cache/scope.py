"""The exact part of a cache key: everything about a request except the last user message's wording.

Only the last user message is compared by meaning. Who asks (tenant), which model alias, the system prompt,
every earlier turn of the conversation and the parameters that change the answer must match exactly, so a
cached answer is never replayed into another tenant, persona, conversation or output format.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Request parameters that change what a correct answer looks like.
ANSWER_PARAMS: tuple[str, ...] = (
    "tools", "tool_choice", "functions", "function_call", "response_format", "n", "stop", "seed", "logit_bias",
    "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "reasoning_effort",
    "modalities", "audio", "parallel_tool_calls",
)
SCOPE_VERSION = 1


@dataclass(frozen=True)
class Scope:
    """``key`` partitions the cache; ``context`` (the earlier turns' text) is kept only for the admission check."""

    key: str
    context: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class CacheableRequest:
    scope: Scope
    text: str


class NotCacheable(ValueError):
    """The request cannot be answered from, or stored in, the cache; the message says why."""


def _text_of(content: Any) -> tuple[str, list[Any]]:
    """The text of a message and its non-text parts (images, audio), which must match exactly."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts, others = [], []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            others.append(part)
    return "\n".join(texts), others


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def scope_for(
    messages: Sequence[Mapping[str, Any]],
    *,
    tenant: str | None,
    model: str,
    params: Mapping[str, Any] | None = None,
    cache_sampled: bool = False,
) -> CacheableRequest:
    """Splits a chat request into its scope and the last user message's text.

    An explicit ``temperature`` above 0 asks for varied answers, so such requests are not cacheable unless
    ``cache_sampled`` is set; then the temperature joins the key. Requests without a temperature are cached:
    they are the common case and the operator chose to turn the cache on for them.
    """
    params = dict(params or {})
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=None)
    if last_user is None:
        raise NotCacheable("no user message to match on")
    text, non_text = _text_of(messages[last_user].get("content"))
    if not text.strip():
        raise NotCacheable("the last user message has no text")
    temperature = params.get("temperature")
    if temperature is not None and float(temperature) > 0 and not cache_sampled:
        raise NotCacheable(f"temperature {temperature} asks for varied answers; enable cache_sampled to cache it")
    others = [dict(m) for i, m in enumerate(messages) if i != last_user]
    material = {
        "v": SCOPE_VERSION,
        "tenant": tenant,
        "model": model,
        "messages": others,
        "last_user_position": last_user,
        "last_user_other_parts": non_text,
        "last_user_name": messages[last_user].get("name"),
        "params": {name: params[name] for name in ANSWER_PARAMS if params.get(name) is not None},
        "temperature": float(temperature) if temperature is not None and float(temperature) > 0 else 0.0,
    }
    key = hashlib.sha256(_canonical(material).encode()).hexdigest()
    context = tuple(_text_of(m.get("content"))[0] for m in others)
    return CacheableRequest(Scope(key, context), text)
