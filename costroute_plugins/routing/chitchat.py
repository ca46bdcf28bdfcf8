"""A rule floor for pleasantries: a greeting, thanks or farewell needs no premium model.

The shipped classifier learned from GSM8K word problems and MMLU questions, where every prompt is a task; on
"Hi!" it has nothing to go on and scores it like a hard question. Pleasantries are recognised by their words
alone (every word from a short closed list, at most eight of them), so the rule cannot fire on a real task
however it is phrased. Short approvals such as "yes" or "go ahead" are deliberately not on the list: in a
conversation they approve work that may well need the premium model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from costroute_plugins.routing.base import RequestView, TierClassifier

_WORDS = frozenset("""
hi hello hey heya hiya howdy yo greetings morning afternoon evening night good day there all everyone folks
thanks thank thx ty cheers appreciate appreciated it you so much a lot very many again really
bye goodbye cya see later soon take care have nice great lovely wonderful weekend
how are doing today going is it what's whats up sup hope well fine
""".split())
_MAX_WORDS = 8
_WORD = re.compile(r"[a-z']+")


def is_chit_chat(text: str) -> bool:
    """True for a short message made only of greeting / thanks / farewell words (punctuation, emoji ignored)."""
    if len(text) > 80 or any(ch.isdigit() for ch in text):
        return False
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return 0 < len(words) <= _MAX_WORDS and all(word in _WORDS for word in words)


class ChitChatFloor(TierClassifier):
    """Another classifier's scores, with pleasantries scored 0 (cheapest tier); the name stays the inner one's,
    because this is how that classifier is served."""

    def __init__(self, inner: TierClassifier) -> None:
        self.inner = inner
        self.name = inner.name

    def premium_need(self, request: RequestView) -> float:
        return 0.0 if is_chit_chat(request.text) else self.inner.premium_need(request)

    def premium_need_batch(self, requests: Sequence[RequestView]) -> np.ndarray:
        scores = np.array(self.inner.premium_need_batch(requests), dtype=np.float64)
        scores[[is_chit_chat(request.text) for request in requests]] = 0.0
        return scores
