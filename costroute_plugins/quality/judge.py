"""The judge: the prompts that grade an audited answer against the top tier's, and the parsers of the replies.

Prompts are MT-Bench's (Zheng et al. 2023, "Judging LLM-as-a-Judge"), kept word for word where they apply, since
that paper measured them: on MT-Bench, GPT-4 as judge agreed with human experts about as often as the experts
agreed with each other (over 80% with ties left out), grading single answers as well as comparing pairs. That is
evidence for a strong judge on chat questions like MT-Bench's, not a guarantee for any judge on any traffic; a
judge weaker than the answers it grades is not covered by it.

``single`` (default): each answer, the served one and the top tier's, is graded **on its own** on a 1-10 scale with
MT-Bench's ``single-v1`` prompt (short explanation, then ``Rating: [[N]]``), in two calls that cannot see each
other. The quality estimate is the ratio of mean ratings, served over reference (``estimate.py``): the measure
the routing quality target is calibrated in and ``costroute replay`` reports (mean served quality over mean
top-tier quality), and one in which a cheaper tier may score above the top tier, as it does on part of chat
traffic (Mixtral-8x7B rated at or above GPT-4-Turbo on 96 of 293 arena_bench_v1 prompts). MT-Bench's
reference-guided variant (``single-math-v1``) is not used: it tells the judge the reference is correct, and the
only reference here is the top tier's own answer, so it would grade agreement with the top tier (a better
cheaper answer marked down for differing) rather than quality. Its strength, catching wrong maths and code an
unaided judge misses, is lost with it; use a strong judge where that matters.

``pairwise``: MT-Bench's ``pair-v2`` prompt, called twice with the served answer first and then second, because
judges favour a position; as in MT-Bench, an answer wins only when it wins in both orders, anything else is a
tie. The estimate is then the share of audits where the served answer is at least as good (Wilson interval),
so the quality target reads as "share of answers as good as the top tier's". MT-Bench notes that pairwise
comparison can tell close answers apart where absolute scores may not, which suits open-ended chat; it says
nothing absolute about an answer.

Cache audits are always graded ``single``: a wrong cache hit (an answer to another question) is an absolute
failure, a rating of ``WRONG_ANSWER_MAX_RATING`` or less where the fresh answer scores above it, which a
preference cannot tell from an answer that is merely a little worse.

Replies are parsed defensively: the last ``[[...]]`` verdict counts (the explanation may quote the format first);
anything else (no verdict, a rating outside 1-10) gives None, which the caller counts as an audit without a
verdict; it never raises. A judge can still be swayed by an answer that addresses it ("rate this 10"); the
delimiters make that harder, not impossible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from costroute_plugins.messages import Message, content_text
from costroute_plugins.quality.config import JudgeMethod
from costroute_plugins.quality.sampler import AuditKind

Preference = Literal["served", "reference", "tie"]
CallPurpose = Literal["served", "reference", "served_first", "reference_first"]

MIN_RATING = 1.0
MAX_RATING = 10.0
# A rating at or below this means the answer fails the question (MT-Bench's judges give 1-3 to answers that are
# wrong or off-topic); a cached answer rated so while the fresh answer is rated higher is a wrong hit.
WRONG_ANSWER_MAX_RATING = 3.0
# Enough for MT-Bench's short explanation and the verdict (typically 100-300 tokens); callers price each call at
# this many output tokens, which keeps an audit's estimated cost an upper bound (see spend_cap.py). A larger cap
# would reserve more of the audit budget than judges use and starve the quality loop of audits.
JUDGE_MAX_TOKENS = 512

SINGLE_SYSTEM = "You are a helpful assistant."
SINGLE_TEMPLATE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI "
    "assistant to the user question displayed below. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
    "evaluation by providing a short explanation. Be as objective as possible. After providing your explanation, "
    "you must rate the response on a scale of 1 to 10 by strictly following this format: \"[[rating]]\", for "
    "example: \"Rating: [[5]]\".\n\n[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n"
    "[The End of Assistant's Answer]"
)
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to "
    "the user question displayed below. You should choose the assistant that follows the user's instructions and "
    "answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of the "
    "responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective as "
    "possible. After providing your explanation, output your final verdict by strictly following this format: "
    "\"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better, and \"[[C]]\" for a tie."
)
PAIR_TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)
# A conversation of several turns is shown whole (MT-Bench's multi-turn layout); this line says which turn the
# graded answer replies to.
_LAST_TURN_NOTE = "(The answer below is the assistant's reply to the last message of this conversation.)"

# At most three digits either side of the point: a longer number is no rating on this scale.
_RATING = re.compile(r"\[\[\s*(\d{1,3}(?:\.\d{1,3})?)\s*(?:/\s*10\s*)?\]\]")
_CHOICE = re.compile(r"\[\[\s*([ABC])\s*\]\]")
_CHOICES: dict[str, Literal["A", "B", "C"]] = {"A": "A", "B": "B", "C": "C"}


def parse_rating(reply: str | None) -> float | None:
    """The last ``[[N]]`` rating in a judge's reply, if on the 1-10 scale; None otherwise (never raises)."""
    if not isinstance(reply, str):
        return None
    found = [match.group(1) for match in _RATING.finditer(reply)]
    if not found:
        return None
    rating = float(found[-1])
    return rating if MIN_RATING <= rating <= MAX_RATING else None


def parse_choice(reply: str | None) -> Literal["A", "B", "C"] | None:
    """The last ``[[A]]``/``[[B]]``/``[[C]]`` (tie) verdict in a pairwise reply; None otherwise (never raises)."""
    if not isinstance(reply, str):
        return None
    found = [match.group(1) for match in _CHOICE.finditer(reply)]
    return _CHOICES[found[-1]] if found else None


def render_question(conversation: Sequence[Message]) -> str:
    """The prompt as the judge reads it: one user message as it is, anything longer as a transcript."""
    turns = [(str(message.get("role", "user")), content_text(message.get("content"))) for message in conversation]
    if len(turns) == 1 and turns[0][0] == "user":
        return turns[0][1]
    transcript = "\n\n".join(f"### {role.capitalize()}:\n{text}" for role, text in turns)
    return f"{transcript}\n\n{_LAST_TURN_NOTE}"


@dataclass(frozen=True)
class Verdict:
    """What the judge said about one audit. ``single``: both ratings (0-10; the parser only yields 1-10, a stub
    judge may pass 10 x a recorded 0-1 score); ``pairwise``: which answer won. ``replies``: the judge's text."""

    method: JudgeMethod
    served_rating: float | None = None
    reference_rating: float | None = None
    preference: Preference | None = None
    replies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.method == "single":
            for rating in (self.served_rating, self.reference_rating):
                if rating is None or not 0.0 <= rating <= MAX_RATING:
                    raise ValueError(f"a single verdict needs two ratings from 0 to {MAX_RATING:g}, got "
                                     f"{self.served_rating!r} and {self.reference_rating!r}")
        elif self.preference not in ("served", "reference", "tie"):
            raise ValueError(f"a pairwise verdict needs a preference (served, reference or tie), got "
                             f"{self.preference!r}")

    @property
    def as_good(self) -> bool:
        """The served answer is at least as good as the reference: rated no lower, or not beaten."""
        if self.served_rating is not None and self.reference_rating is not None:
            return self.served_rating >= self.reference_rating
        return self.preference != "reference"

    @property
    def wrong_answer(self) -> bool | None:
        """Single: the served answer fails the question while the reference does not; None for pairwise."""
        if self.served_rating is None or self.reference_rating is None:
            return None
        return self.served_rating <= WRONG_ANSWER_MAX_RATING < self.reference_rating


@dataclass(frozen=True)
class JudgeCall:
    """One chat completion for the judge model group: send ``messages`` with these settings, return the text."""

    purpose: CallPurpose
    messages: tuple[dict[str, str], ...]
    max_tokens: int = JUDGE_MAX_TOKENS
    temperature: float = 0.0


def _single(purpose: CallPurpose, question: str, answer: str) -> JudgeCall:
    return JudgeCall(purpose, ({"role": "system", "content": SINGLE_SYSTEM},
                               {"role": "user", "content": SINGLE_TEMPLATE.format(question=question, answer=answer)}))


def _pair(purpose: CallPurpose, question: str, answer_a: str, answer_b: str) -> JudgeCall:
    user = PAIR_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b)
    return JudgeCall(purpose, ({"role": "system", "content": PAIR_SYSTEM}, {"role": "user", "content": user}))


def method_for(kind: AuditKind, configured: JudgeMethod) -> JudgeMethod:
    """Cache audits are graded single whatever is configured: a wrong hit needs an absolute rating."""
    return "single" if kind == "cache" else configured


@dataclass(frozen=True)
class Grading:
    """The judge calls one audit needs (independent: run them concurrently), and the verdict from their replies."""

    method: JudgeMethod
    calls: tuple[JudgeCall, ...]

    @classmethod
    def for_audit(cls, kind: AuditKind, configured: JudgeMethod, conversation: Sequence[Message],
                  served_answer: str, reference_answer: str) -> Grading:
        method = method_for(kind, configured)
        question = render_question(conversation)
        if method == "single":
            return cls(method, (_single("served", question, served_answer),
                                _single("reference", question, reference_answer)))
        return cls(method, (_pair("served_first", question, served_answer, reference_answer),
                            _pair("reference_first", question, reference_answer, served_answer)))

    def verdict(self, replies: Sequence[str | None]) -> Verdict | None:
        """The verdict from the replies to ``calls``, in order (None for a call that failed); None when any
        reply holds no usable verdict."""
        if len(replies) != len(self.calls):
            return None
        texts = tuple(reply if isinstance(reply, str) else "" for reply in replies)
        if self.method == "single":
            served, reference = parse_rating(replies[0]), parse_rating(replies[1])
            if served is None or reference is None:
                return None
            return Verdict("single", served_rating=served, reference_rating=reference, replies=texts)
        first, second = parse_choice(replies[0]), parse_choice(replies[1])
        if first is None or second is None:
            return None
        # In the first call the served answer is A, in the second B.
        if first == "A" and second == "B":
            preference: Preference = "served"
        elif first == "B" and second == "A":
            preference = "reference"
        else:
            preference = "tie"  # a tie, or the orders disagree: MT-Bench's conservative rule
        return Verdict("pairwise", preference=preference, replies=texts)
