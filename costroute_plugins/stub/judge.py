"""The stub as a judge: MT-Bench-style grading prompts (``quality/judge.py``) get a verdict instead of an echo.

A single-answer prompt is rated by the tier that wrote the graded answer: the stub's answers start with
``[<tier>]``, and ``ratings`` maps that tier to a 1-10 rating (an answer with no tier tag gets ``default``). A
pairwise prompt is answered with a tie. So a test knows what the audits of each tier must estimate.
"""

from __future__ import annotations

import re

JUDGE_OPENING = "Please act as an impartial judge"
_SINGLE_ANSWER = re.compile(r"\[The Start of Assistant's Answer\]\n\[([\w-]+)\]")

DEFAULT_RATINGS = {"cheap": 6.0, "balanced": 8.0, "premium": 9.0}


def judge_reply(prompt_text: str, ratings: dict[str, float] | None, default: float = 7.0) -> str | None:
    """A judge's verdict for a grading prompt; None when the prompt is not one (answer it as usual)."""
    if JUDGE_OPENING not in prompt_text:
        return None
    if "[The Start of Assistant A's Answer]" in prompt_text:
        return "Both answers address the question equally well. [[C]]"
    match = _SINGLE_ANSWER.search(prompt_text)
    rating = (ratings or DEFAULT_RATINGS).get(match.group(1), default) if match else default
    return f"The answer is graded by the tier that wrote it. Rating: [[{rating:g}]]"
