"""The stub as a judge: MT-Bench-style grading prompts (``quality/judge.py``) get a verdict instead of an echo.

Two kinds of graded answer, so a test (or a replay) knows what the audits must estimate:

- **Recorded outcomes** (answers starting with the ``[costroute-outcome ...]`` marker, ``outcomes.py``): the
  replay's ground truth is the recorded score, so the judge grades with it. A single-answer prompt is rated
  ``10 x score``, clamped to the judge's 1-10 scale (a wrong answer, score 0, gets the lowest rating, 1: the
  scale has no 0, which is why an audit's estimate sits a little above the true ratio of scores). A pairwise
  prompt prefers the answer with the higher recorded score, a tie when equal. When the question is one the stub
  knows (``tag_of``) and the answer's marker names another question (a cache hit on a non-duplicate), the
  answer is worth what the replay scores it: 0.
- **Tier-tagged answers** (the plain stub's ``[<tier>] answer to: ...``): a single-answer prompt is rated by
  the tier that wrote it (``ratings``, an answer with no tag gets ``default``); a pairwise prompt is a tie.

A real deployment uses an LLM judge; this one only makes the audits' arithmetic checkable end to end.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from costroute_plugins.stub.outcomes import parse_marker

JUDGE_OPENING = "Please act as an impartial judge"
_SINGLE = re.compile(r"\[Question\]\n(?P<question>.*?)\n\n\[The Start of Assistant's Answer\]\n(?P<answer>.*?)"
                     r"\n\[The End of Assistant's Answer\]", re.DOTALL)
_PAIR = re.compile(r"\[User Question\]\n(?P<question>.*?)\n\n\[The Start of Assistant A's Answer\]\n(?P<a>.*?)"
                   r"\n\[The End of Assistant A's Answer\]\n\n\[The Start of Assistant B's Answer\]\n(?P<b>.*?)"
                   r"\n\[The End of Assistant B's Answer\]", re.DOTALL)
_TIER_TAG = re.compile(r"^\[([\w-]+)\]")

DEFAULT_RATINGS = {"cheap": 6.0, "balanced": 8.0, "premium": 9.0}
MIN_RATING, MAX_RATING = 1.0, 10.0

#: Question text -> the qid tag of its recorded outcome, or None for a question the stub does not know.
TagOf = Callable[[str], "str | None"]


def recorded_score(question: str, answer: str, tag_of: TagOf | None = None) -> float | None:
    """The answer's recorded score when it starts with an outcome marker (0 when the marker names another known
    question); None for an answer without one."""
    found = parse_marker(answer.lstrip()[:200]) if answer.lstrip().startswith("[costroute-outcome") else None
    if found is None:
        return None
    tag, _tier, score = found
    own = tag_of(question) if tag_of is not None else None
    return 0.0 if own is not None and own != tag else score


def rating_of(score: float) -> float:
    """A recorded 0-1 score on the judge's 1-10 scale (``quality.judge.parse_rating`` accepts nothing else)."""
    return min(MAX_RATING, max(MIN_RATING, round(score * 10, 3)))


def _single(question: str, answer: str, ratings: dict[str, float] | None, default: float,
            tag_of: TagOf | None) -> str:
    score = recorded_score(question, answer, tag_of)
    if score is not None:
        return f"The answer is graded by its recorded score {score:g}. Rating: [[{rating_of(score):g}]]"
    tag = _TIER_TAG.match(answer)
    rating = (ratings or DEFAULT_RATINGS).get(tag.group(1), default) if tag else default
    return f"The answer is graded by the tier that wrote it. Rating: [[{rating:g}]]"


def _pair(question: str, answer_a: str, answer_b: str, tag_of: TagOf | None) -> str:
    score_a, score_b = recorded_score(question, answer_a, tag_of), recorded_score(question, answer_b, tag_of)
    if score_a is None or score_b is None or score_a == score_b:
        return "Both answers address the question equally well. [[C]]"
    better = "A" if score_a > score_b else "B"
    return f"Assistant {better}'s answer has the higher recorded score ({score_a:g} vs {score_b:g}). [[{better}]]"


def judge_reply(prompt_text: str, ratings: dict[str, float] | None, default: float = 7.0,
                tag_of: TagOf | None = None) -> str | None:
    """A judge's verdict for a grading prompt; None when the prompt is not one (answer it as usual)."""
    if JUDGE_OPENING not in prompt_text:
        return None
    pair = _PAIR.search(prompt_text)
    if pair is not None:
        return _pair(pair["question"], pair["a"], pair["b"], tag_of)
    if "[The Start of Assistant A's Answer]" in prompt_text:
        return "Both answers address the question equally well. [[C]]"
    single = _SINGLE.search(prompt_text)
    if single is None:
        return f"The answer could not be read; graded by default. Rating: [[{default:g}]]"
    return _single(single["question"], single["answer"], ratings, default, tag_of)
