"""What a caller may ask of the router for one request, read from the request's ``metadata``.

Hints can only make routing safer for the caller, never cheaper for someone else: ``required_quality`` and
``task`` can only raise the tier, ``max_latency_ms`` only picks between tiers the caller may use anyway.
Anything that decides who gets premium unconditionally (premium tenants) comes from the authenticated
identity and the operator's config, never from here. A malformed hint is the caller's mistake and is
refused with a message naming the key, instead of being silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The request ``metadata`` keys read as hints.
HINT_KEYS = ("required_quality", "max_latency_ms", "task")
_TASK = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class HintError(ValueError):
    """A hint in the request metadata has the wrong type or range; the message names the key and the fix."""


@dataclass(frozen=True)
class RouteHints:
    """``required_quality``: share of premium quality to keep, in (0, 1]; ``max_latency_ms``: the longest the
    caller will wait; ``task``: a label such as ``code`` or ``math`` that config may map to a minimum tier."""

    required_quality: float | None = None
    max_latency_ms: float | None = None
    task: str | None = None

    def __bool__(self) -> bool:
        return any(value is not None for value in (self.required_quality, self.max_latency_ms, self.task))

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in HINT_KEYS if getattr(self, key) is not None}


def _number(metadata: Mapping[str, Any], key: str) -> float | None:
    value = metadata.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise HintError(f"metadata.{key}: expected a number, got {type(value).__name__}")
    try:
        return float(value)
    except ValueError:
        raise HintError(f"metadata.{key}: expected a number, got {value!r}") from None


def parse_hints(metadata: Mapping[str, Any] | None) -> RouteHints:
    """The hints in a request's metadata; raises ``HintError`` for a value that cannot mean what was asked."""
    metadata = metadata or {}
    quality = _number(metadata, "required_quality")
    if quality is not None and not 0.0 < quality <= 1.0:
        raise HintError(f"metadata.required_quality: {quality:g} is outside (0, 1]; give the share of premium "
                        "quality to keep, e.g. 0.95")
    latency = _number(metadata, "max_latency_ms")
    if latency is not None and not latency > 0:
        raise HintError(f"metadata.max_latency_ms: {latency:g} must be a positive number of milliseconds")
    task = metadata.get("task")
    if task is not None:
        if not isinstance(task, str) or not _TASK.match(task.strip().lower()):
            raise HintError(f"metadata.task: {task!r} is not a task label; use a short lowercase word such as "
                            "'code', 'math' or 'chat'")
        task = task.strip().lower()
    return RouteHints(quality, latency, task)
