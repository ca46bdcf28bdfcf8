"""How long an answer stays right: the TTL rules, and the part of a prompt they are judged on.

A prompt's answer goes stale when the prompt asks about the present ("What time is it?", "live score",
"latest news"), not when a word like "live" or "recent" merely appears in it. So the rules are phrases in
their time sense, and they are matched against the request's own question only: quoted text, code blocks,
few-shot examples, labelled passages and multiple-choice options are material the question is about, and the
time words inside them ("Passage: ... the latest figures ...") say nothing about when the answer expires.

Each default rule's pattern is a single named group; the name labels the rule in ``costroute eval-admission``.
Operator rules (``ttl_rules`` in the cache config) are compiled as before (case-insensitive regexes) and
matched the same way, on the same text: the own question, of which at most the first and last ASK_CHARS
characters are judged, so the rules' cost is bounded whatever the size of the paste.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from costroute_plugins.cache import scan

_S = r"[ \t]{1,4}"  # a bounded run of spaces between words: unbounded ones let a search backtrack quadratically
_WORD = r"[a-z'’]{1,20}"

_MONTH_OR_SEASON = (r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
                    r"spring|summer|autumn|fall|winter)")
# The verbs that ask for a current value: "what is the current price", "tell me today's date".
_ASK = rf"(?:what(?:'s|’s|{_S}is|{_S}are)|tell{_S}me|give{_S}me|show{_S}me|check|look{_S}up)"

DEFAULT_TTL_RULES: tuple[tuple[str, float], ...] = (
    # Asks for the clock or the calendar, or counts days from today. ("How do I get the current date in
    # Python?" asks for code, not the date.)
    ((rf"(?P<clock>\bwhat{_S}(?:time|day|date|year|month){_S}is{_S}(?:it|today)"
      rf"(?:[ \t]{{0,4}}(?:[?.!,]|$)|{_S}(?:now|right{_S}now|in|there|here|today)\b)"
      rf"|\bwhat(?:'s|’s|{_S}is){_S}the{_S}(?:(?:current|exact|local){_S})?(?:time|date|day)"
      rf"(?:[ \t]{{0,4}}(?:\?|$)|{_S}(?:today|now|right{_S}now|here|there)\b)"
      rf"|\b{_ASK}{_S}(?:the{_S})?(?:today's|today’s|todays|current){_S}(?:date|time|day)[ \t]{{0,4}}(?:\?|$)"
      rf"|\bhow{_S}many{_S}(?:days|weeks|hours|minutes){_S}(?:until|till|left|since|ago)\b)"), 0.0),
    # Prices, scores and feeds that move by the minute.
    ((rf"(?P<live>\blive{_S}(?:scores?|stream(?:s|ing)?|feeds?|prices?|results?|updates?|coverage|odds|stats|"
      rf"standings|traffic|weather|data|blog|tv|broadcast|match(?:es)?|games?)\b"
      rf"|\b{_ASK}{_S}(?:the{_S})?(?:current|today's|today’s|latest|live|real[ -]time){_S}(?:{_WORD}{_S})?"
      rf"(?:prices?|exchange{_S}rates?|market{_S}(?:cap|value)|quotes?|scores?|standings|odds|temperature)\b"
      rf"|\b(?:prices?|exchange{_S}rates?|scores?|temperature){_S}(?:{_WORD}{_S}){{0,3}}?"
      rf"(?:today|tonight|now|right{_S}now|at{_S}the{_S}moment)[ \t]{{0,4}}(?:[?.!]|$)"
      rf"|\bwhat(?:'s|’s|{_S}is|{_S}are){_S}(?:the{_S})?(?:{_WORD}{_S}){{0,2}}?(?:stock|share){_S}prices?"
      rf"(?:[ \t]{{0,4}}(?:\?|$)|{_S}(?:of|for){_S}{_WORD}[ \t]{{0,4}}(?:\?|$))"
      rf"|\bwhat(?:'s|’s|{_S}is){_S}the{_S}exchange{_S}rate{_S}(?:today|now|of|for|between|from)\b"
      rf"|\b(?:how{_S}much{_S}is|price{_S}of){_S}(?:an?{_S}|one{_S})?(?:bitcoin|btc|ethereum|eth|dogecoin)\b)"), 0.0),
    # The weather, now or soon (not the climate: "what is the weather like in October").
    ((rf"(?P<weather>\bweather{_S}(?:today|tonight|tomorrow|now|right{_S}now|forecast|this{_S}(?:week|weekend|"
      rf"morning|afternoon|evening)|like{_S}(?:today|now|there|outside))\b"
      rf"|\b(?:today's|today’s|tonight's|tomorrow's|tomorrow’s|current){_S}(?:weather|forecast)\b"
      rf"|\b(?:what's|what’s|what{_S}is|how's|how’s|how{_S}is){_S}the{_S}weather\b"
      rf"(?!(?:{_S}[a-z]{{1,20}}){{0,4}}?{_S}(?:in|during){_S}{_MONTH_OR_SEASON}\b)"
      rf"|\bwill{_S}it{_S}(?:rain|snow|be{_S}(?:sunny|hot|cold|windy|warm))\b|\bis{_S}it{_S}(?:raining|snowing)\b)"),
     0.0),
    # News and what is happening now.
    ((rf"(?P<news>\b(?:breaking|latest|today's|today’s|tonight's|current|top){_S}(?:news|headlines|stories)\b"
      rf"|\bnews{_S}(?:today|tonight|now|right{_S}now)\b"
      rf"|\bwhat(?:'s|’s|{_S}is){_S}(?:in{_S}the{_S}news|(?:happening|trending|going{_S}on){_S}(?:today|now|"
      rf"right{_S}now|in{_S}the{_S}world|at{_S}the{_S}moment))\b"
      rf"|\bthe{_S}latest(?:[ \t]{{0,4}}\?|{_S}(?:on|about|with)\b))"), 0.0),
    # Something happening at this minute: "open now", "who is winning right now". Not "know", "now that",
    # "from now on", nor a story's "How many pens does Janet have now?" (a state in the question's own story).
    ((rf"(?P<now>\b(?:open|playing|happening|trending|streaming|airing|showing|live|winning|leading|ahead)"
      rf"(?:{_S}right)?{_S}now\b)"), 0.0),
    # Relative days and the present: the answer changes when the day does.
    ((rf"(?P<relative_day>(?<!\bof )(?<!\bin )\b(?:today|tonight|tomorrow|yesterday|last{_S}night|"
      rf"(?:this|next|last){_S}(?:week|weekend|morning|afternoon|evening))\b"
      rf"(?!(?:'s|’s){_S}(?:world|society|economy|culture|age|generation|youth|children|kids|business|"
      rf"environment|technology|modern|standards)\b)"
      rf"|\bright{_S}now[ \t]{{0,4}}(?:[?.!]|$)|\bas{_S}of{_S}(?:now|today)\b|\bat{_S}the{_S}moment[ \t]{{0,4}}\?)"),
     3600.0),
    # Recent, upcoming and current releases and events.
    ((rf"(?P<recent>\b(?:recent|latest|newest|current|upcoming|next){_S}(?:news|events?|developments?|updates?|"
      rf"headlines|releases?|versions?|results?|elections?|polls?|games?|matches|fixtures|earthquakes?|changes|"
      rf"announcements?|trends?|outbreaks?|iphone|episodes?|seasons?|patch|standings|rankings|champions?|"
      rf"winners?|launch(?:es)?|earnings|concerts?|holidays?|movies|films)\b"
      rf"|\b(?:happened|released|announced|launched|published|elected|appointed|died){_S}(?:recently|lately)\b"
      rf"|\b(?:recently|lately){_S}(?:released|announced|launched|published|elected|appointed)\b"
      rf"|\bso{_S}far{_S}(?:this|today)\b)"), 3600.0),
)

# Material a question is about, not the question: "Passage:" labels, and lines announcing "the following text".
_MATERIAL = (r"(?:text|passage|article|excerpt|paragraph|information|document|e-?mail|story|poem|review|"
             r"conversation|transcript|code|data|table|essay|letter|statement|quot(?:e|ation)|sentences?|lyrics|"
             r"message|report|abstract|dialogue|context|snippet|log)s?")
_LABEL = re.compile(rf"[ \t]{{0,8}}{_MATERIAL}[ \t]{{0,4}}:", re.IGNORECASE)
# An announcement ends its line ("... the following passage:"), so only a line's last characters are searched.
_ANNOUNCEMENT_TAIL = 400
_ANNOUNCED = re.compile(
    rf"(?:\b(?:following|below){_S}(?:{_WORD}{_S}){{0,3}}?{_MATERIAL}|\b{_MATERIAL}{_S}(?:below|as{_S}follows))\b"
    rf".{{0,200}}[.:][ \t]{{0,8}}$"
    rf"|\b(?:this|these|given|attached){_S}(?:{_WORD}{_S}){{0,3}}?{_MATERIAL}[ \t]{{0,4}}:[ \t]{{0,8}}$",
    re.IGNORECASE)
# A few-shot example ends with its answer; the request's own question comes after the last one.
_ANSWERED = re.compile(r"[ \t]{0,8}(?:answer|output|label|response)[ \t]{0,4}[:：][ \t]{0,4}\S", re.IGNORECASE)
_ASKS = re.compile(r"[ \t]{0,8}(?:question|q|problem|input|query)[ \t]{0,4}[:：]", re.IGNORECASE)
_EMPTY_ANSWER = re.compile(r"[ \t]{0,8}(?:answer|a|output|response)[ \t]{0,4}[:：][ \t]{0,8}", re.IGNORECASE)
_OPTION = re.compile(r"[ \t]{0,8}(?:\(?[A-Ja-j]\)|[A-J][.:])[ \t]")
_QUOTED_LINE = re.compile(r"[ \t]{0,8}>")
_QUOTED_SPAN = re.compile(r"\"[^\"\n]{1,400}\"|“[^”\n]{1,400}”")
_FENCE = re.compile(r"```|~~~|'''|\"\"\"")
# A question longer than twice this is judged on its first and last ASK_CHARS characters: a long prompt asks
# at its start or its end, its middle is material, and the rules' cost stays bounded whatever the paste.
ASK_CHARS = 4_096


def _without_code_blocks(text: str) -> str:
    """Text outside fenced code blocks and triple-quoted strings; an unclosed fence runs to the end.

    One pass over the fences in order, so linear however many there are.
    """
    kept: list[str] = []
    position = 0
    opened: str | None = None
    for fence in _FENCE.finditer(text):
        if opened is None:
            kept.append(text[position:fence.start()])
            opened = fence.group(0)
        elif fence.group(0) == opened:
            opened, position = None, fence.end()
    if opened is None:
        kept.append(text[position:])
    return "".join(kept)


def _after_examples(lines: Sequence[str]) -> Sequence[str]:
    """The lines after the last answered example, or from the last "Question:"/"Q:" line: the one asked now."""
    start = 0
    for index, line in enumerate(lines):
        if _ANSWERED.match(line) and index < len(lines) - 1:
            start = index + 1
        elif _ASKS.match(line):
            start = index
    return lines[start:]


def _paragraph_ends(lines: Sequence[str], start: int) -> int:
    """Index just past the paragraph that begins at ``start``."""
    end = start + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return end


def _without_material(lines: Sequence[str]) -> list[str]:
    """Drops labelled material ("Passage: ..." the line; a "Passage:" line alone, its paragraph), announced
    material (after a line announcing "the following text", up to the last paragraph, or to the end when it is
    all one paragraph), quoted lines and, when there are several, multiple-choice options. The line before the
    options is the question's stem and is always kept."""
    options = [i for i, line in enumerate(lines) if _OPTION.match(line)]
    stem = options[0] - 1 if len(options) >= 2 else -1
    drop = set(options) if len(options) >= 2 else set()
    last_paragraph = max((i for i in range(1, len(lines)) if not lines[i - 1].strip() and lines[i].strip()),
                         default=len(lines))
    index = 0
    while index < len(lines):
        line = lines[index]
        if _QUOTED_LINE.match(line):
            drop.add(index)
        elif _LABEL.match(line):
            label_only = _LABEL.fullmatch(line.rstrip()) is not None
            end = _paragraph_ends(lines, index) if label_only else index + 1
            drop.update(range(index, end))
            index = end
            continue
        elif index + 1 < len(lines) and _ANNOUNCED.search(line, max(0, len(line) - _ANNOUNCEMENT_TAIL)):
            end = last_paragraph if last_paragraph > index + 1 else len(lines)
            drop.update(range(index + 1, end))
            index = end
            continue
        index += 1
    drop.discard(stem)
    kept = [line for i, line in enumerate(lines) if i not in drop]
    while kept and (_EMPTY_ANSWER.fullmatch(kept[-1]) or not kept[-1].strip()):
        kept.pop()
    return kept


def own_question(prompt: str) -> str:
    """The part of ``prompt`` that asks, without the material it asks about; see the module docstring."""
    lines = _without_code_blocks(prompt).splitlines()
    question = _QUOTED_SPAN.sub('""', "\n".join(_without_material(_after_examples(lines))))
    if len(question) > 2 * ASK_CHARS:
        return f"{question[:ASK_CHARS]}\n…\n{question[-ASK_CHARS:]}"
    return question


def compile_rules(rules: Sequence[tuple[str, float]]) -> tuple[tuple[re.Pattern[str], float], ...]:
    """Rules are case-insensitive regexes, as the cache config documents."""
    return tuple((re.compile(pattern, re.IGNORECASE), ttl) for pattern, ttl in rules)


def rule_label(pattern: re.Pattern[str]) -> str:
    """A rule's name: its first named group, else its pattern (shortened) — for reports."""
    names = sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)
    return names[0] if names else (pattern.pattern if len(pattern.pattern) <= 60 else pattern.pattern[:57] + "...")


def matching(rules: Sequence[tuple[re.Pattern[str], float]],
             question: str) -> Iterator[tuple[re.Pattern[str], float, re.Match[str]]]:
    """The rules whose pattern matches ``question``, with the match; searched in windows, so linear."""
    for pattern, ttl in rules:
        found = scan.search(pattern, question)
        if found:
            yield pattern, ttl, found
