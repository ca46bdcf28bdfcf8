"""Regex search over long texts in overlapping windows, so admission work grows linearly with a text's length.

Python's ``re`` backtracks: a pattern that is fast on a chat message can be quadratic or worse on a 1 MB
adversarial paste, and operators add patterns of their own. Searching fixed-size windows caps what any one
search can cost, so scanning N characters is at most N / (WINDOW - OVERLAP) searches of bounded cost, whatever
the pattern. Texts up to WINDOW characters are searched whole, exactly as ``pattern.finditer(text)`` would.

A window is searched with ``pattern.finditer(text, start, end)``: lookbehinds and ``\\b`` still see the
characters before ``start``, but a lookahead stops at ``end``. So a match ending within EDGE characters of an
inner window end is not trusted there; the next window starts OVERLAP characters back and reads it with its
right context. Every match up to OVERLAP - EDGE characters long is therefore found; the built-in detectors'
matches are all shorter than that, operator patterns that need longer matches may miss them in long texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

WINDOW = 16_384
OVERLAP = 1_024
EDGE = 64


def windows(length: int) -> Iterator[tuple[int, int]]:
    """Start and end of each window over a text of ``length`` characters; consecutive ones share OVERLAP."""
    start = 0
    while True:
        end = min(start + WINDOW, length)
        yield start, end
        if end >= length:
            return
        start = end - OVERLAP


def finditer(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """The matches of ``pattern`` in ``text``, window by window, each reported once."""
    reported_up_to = 0
    for start, end in windows(len(text)):
        trusted_end = end if end == len(text) else end - EDGE
        for match in pattern.finditer(text, start, end):
            if match.end() > trusted_end:
                break  # cut short by the window, or reading its end as the text's: the next window decides
            if match.end() > reported_up_to:  # else the previous window reported it
                yield match
        reported_up_to = trusted_end


def search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``pattern`` in ``text``, in linear time for patterns whose work per position is bounded."""
    return next(finditer(pattern, text), None)
