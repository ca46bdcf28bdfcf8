"""The one way costroute turns chat messages into text: the cache, the router and training all use it.

The same prompt must give the same string everywhere: the embedding the router scores is the one the cache
stores, and the text the router was trained on is the text it is asked about at serving time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Message = Mapping[str, Any]
# Content part types that carry text: chat's ``text``, the Responses API's ``input_text`` and ``output_text``.
TEXT_PARTS = frozenset({"text", "input_text", "output_text"})


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` parts of a content list, one per line."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", "")) for part in content
            if isinstance(part, Mapping) and part.get("type") in TEXT_PARTS
        )
    return ""


def last_user_text(messages: Sequence[Message]) -> str:
    """The text a request is judged and matched by: its newest user message.

    The newest ask is what the chosen model must answer; earlier turns are summarised by the router's
    structural features and, for the cache, are part of the exact scope instead.
    """
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""
