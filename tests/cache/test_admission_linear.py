"""Admission work grows linearly with the text a client sends: a 1 MB paste cannot stall the proxy."""

from __future__ import annotations

import re
import time
from re import _constants as sre_constants
from re import _parser as sre_parser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costroute_plugins.cache import freshness, scan
from costroute_plugins.cache.admission import DEFAULT_TTL_RULES, AdmissionPolicy
from costroute_plugins.cache.pii import DETECTORS

OK = {"choices": [{"message": {"role": "assistant", "content": "Fine."}, "finish_reason": "stop"}]}
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)

# Text shaped to make backtracking patterns retry: long runs that almost match, over and over.
ADVERSARIAL_UNITS = [
    " ", "1", "1 ", "12-", "a+", "aB3_", "+4", "password: ", "token ", "Bearer ", "ab12 ", "4111 1111 1111 1112 ",
    "a.b%c+", "eyJ-", "sk-", "x@", '"a ', "```", "A. x\n", "now right ", "Question: ", "(0", "00",
]


def _unbounded_repeats(parsed: sre_parser.SubPattern) -> list[str]:
    """Repeats without an upper bound anywhere in a parsed pattern (``*``, ``+``, ``{n,}``)."""
    found = []
    for op, av in parsed.data:
        if op in _REPEATS and av[1] == sre_constants.MAXREPEAT:
            found.append(str(op))
        for part in av if isinstance(av, (tuple, list)) else ():
            if isinstance(part, sre_parser.SubPattern):
                found += _unbounded_repeats(part)
            elif isinstance(part, list):
                found += [r for sub in part if isinstance(sub, sre_parser.SubPattern) for r in _unbounded_repeats(sub)]
    return found


def _patterns_reading_client_text() -> list[re.Pattern[str]]:
    module_level = [value for value in vars(freshness).values() if isinstance(value, re.Pattern)]
    rules = [re.compile(pattern, re.IGNORECASE) for pattern, _ttl in DEFAULT_TTL_RULES]
    return [detector.pattern for _name, detector in DETECTORS] + rules + module_level


def test_every_built_in_pattern_bounds_its_repeats():
    """A bounded pattern does bounded work at each position, so a search is linear in the text's length."""
    offenders = {p.pattern[:80]: _unbounded_repeats(sre_parser.parse(p.pattern, p.flags))
                 for p in _patterns_reading_client_text()}
    assert {pattern: ops for pattern, ops in offenders.items() if ops} == {}


def _admission_seconds(text: str) -> float:
    policy = AdmissionPolicy()
    response = {"choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        policy.admit(text, response)
        best = min(best, time.perf_counter() - started)
    return best


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from(["", "token", "password:", "Bearer", "SSN ", "call me on ", "Passage: "]),
    unit=st.one_of(st.sampled_from(ADVERSARIAL_UNITS),
                   st.text(alphabet=" \t\n:=+-_./@()'\"`0123456789aAbBeyJxkSsTtPp", min_size=1, max_size=6)),
)
def test_admission_time_is_linear_in_input_size(prefix, unit):
    """Eight times the text takes about eight times as long (sixty-four if quadratic); the minimum of a few
    runs, and a loose bound, so a busy machine does not fail it."""
    def text(size: int) -> str:
        return (prefix + unit * (size // len(unit) + 1))[:size]

    small, large = _admission_seconds(text(4_000)), _admission_seconds(text(32_000))
    assert large / small < 30, f"{prefix!r} + {unit!r}*n: {small * 1e3:.1f} ms -> {large * 1e3:.1f} ms"


@settings(max_examples=30, deadline=None, derandomize=True)
@given(offsets=st.lists(st.integers(0, 3 * scan.WINDOW), min_size=1, max_size=6))
def test_a_windowed_search_finds_what_a_whole_text_search_finds(offsets):
    """Long texts are searched in overlapping windows; a match on a window boundary is still found, once."""
    text = list("x " * (2 * scan.WINDOW))
    for offset in offsets:
        text[offset:offset + 12] = " 555-0199-7 "
    joined = "".join(text)
    pattern = re.compile(r"(?<![\d-])\d{3}-\d{4}-\d(?![\d-])")
    assert [m.span() for m in scan.finditer(pattern, joined)] == [m.span() for m in pattern.finditer(joined)]


def test_a_secret_straddling_a_window_boundary_in_a_long_prompt_is_refused():
    for offset in (scan.WINDOW - scan.EDGE - 5, scan.WINDOW - 10, scan.WINDOW + 3, 5 * scan.WINDOW - 700):
        prompt = "a " * (offset // 2) + "card 4539 1488 0343 6467 " + "b " * scan.WINDOW
        assert AdmissionPolicy().admit(prompt, OK).reason == "prompt contains card_number", offset
