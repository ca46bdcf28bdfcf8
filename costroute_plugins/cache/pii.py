"""Personal data and credentials in text: what must never be stored in a cache that replays answers to others.

Each detector is a candidate pattern, optionally followed by a check (a checksum, a shape rule, a decoding) so
ordinary numbers and words are not refused. Every pattern does a bounded amount of work per position: each
quantifier has an upper bound, and a pattern that starts with a run of characters may only start where such a
run starts (its lookbehind excludes the run's own characters). Together with the windowed search of ``scan``
that keeps detection linear in the text's length, whatever a client sends.

Decisions (see docs/cache-admission.md):
- A bare 9-digit number is an SSN only after "SSN"/"social security"; written 3-2-4 (123-45-6789) it is one when
  its shape is valid. Either way area 000/666/9xx, group 00 and serial 0000 are never issued, so never refused.
- Documented test card numbers (4242 4242 4242 4242, 4111 1111 1111 1111, ...) and published specimen SSNs are
  nobody's data and are admitted; so are Stripe publishable keys (``pk_``), which are meant for web pages.
- Hex strings and UUIDs (commit SHAs, digests, request ids) are identifiers, not credentials, unless a
  credential word precedes them ("token: 9f8e...").
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from costroute_plugins.cache import scan

Check = Callable[[re.Match[str]], bool]


@dataclass(frozen=True)
class Detector:
    """Candidates of ``pattern`` that pass ``check`` (every candidate when there is none) are found data.

    Two cheap gates skip the regex search on texts that cannot hold a candidate (most texts): ``needles``,
    lower-case strings one of which every candidate contains, and ``min_digits``, the fewest digits one has.
    """

    pattern: re.Pattern[str]
    check: Check | None = None
    needles: tuple[str, ...] = ()
    min_digits: int = 0

    def first_in(self, text: str, lowered: str, digits: int) -> re.Match[str] | None:
        """The first candidate in ``text`` that passes the check, else None. ``lowered``: ``text`` in lower
        case; ``digits``: how many digits it has."""
        if digits < self.min_digits or (self.needles and not any(needle in lowered for needle in self.needles)):
            return None
        return next((m for m in scan.finditer(self.pattern, text) if self.check is None or self.check(m)), None)


# The Luhn step for every second digit from the right: doubled, then its two digits added (7 -> 14 -> 5).
_DOUBLED = str.maketrans("0123456789", "0246813579")
_DIGIT_VALUE = {str(value): value for value in range(10)}


def luhn_valid(digits: str) -> bool:
    """Card numbers carry a Luhn check digit; random digit runs pass only one time in ten."""
    weighted = digits[-1::-2] + digits[-2::-2].translate(_DOUBLED)
    return sum(map(_DIGIT_VALUE.__getitem__, weighted)) % 10 == 0


_NON_DIGIT = re.compile(r"\D")


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


# ISO 13616 registry: the length of each country's IBAN. A length check on top of mod 97 keeps random
# letter-digit strings (hashes, part numbers) from passing one time in 97.
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban_valid(candidate: str) -> bool:
    """ISO 13616: the country's length, then the first four characters moved to the end, letters to numbers,
    mod 97 is 1. Case and spaces are ignored: people type IBANs in lower case and in groups."""
    compact = candidate.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _iban(match: re.Match[str]) -> bool:
    """The candidate may run on into the next word; the IBAN is its prefix of the country's length."""
    text = match.group(0)
    length = _IBAN_LENGTHS.get(text[:2].upper())
    if length is None:
        return False
    seen = 0
    for end, char in enumerate(text, 1):
        seen += char != " "
        if seen == length:
            return (end == len(text) or text[end] == " ") and iban_valid(text[:end])
    return False


# Numbers the card networks and payment processors publish for testing; they charge nobody.
_TEST_CARDS = frozenset({
    "4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881", "4222222222222",
    "4000000000000002", "4000000000003220", "4000002500003155", "4000000000009995", "4917610000000000",
    "5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100", "5454545454545454",
    "378282246310005", "371449635398431", "378734493671000", "6011111111111117", "6011000990139424",
    "3056930009020004", "36227206271667", "30569309025904", "38520000023237", "3566002020360505",
    "3530111333300000", "6200000000000005", "6759649826438453",
})
_CARD_PREFIX = re.compile(r"4|5[0-9]|2[2-7]|3[0-9]|6")


def _card(match: re.Match[str]) -> bool:
    """Luhn-valid, the length of a card (13-19) and a card network's first digits: 3, 4, 5, 6 or 22-27."""
    digits = _digits(match.group(0))
    return (13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) is not None and luhn_valid(digits)
            and digits not in _TEST_CARDS)


# Specimen numbers printed on sample cards and in advertising (the Woolworth wallet card, 123-45-6789).
_SPECIMEN_SSNS = frozenset({"078051120", "219099999", "123456789"})


def _ssn(match: re.Match[str]) -> bool:
    """Never issued: area 000, 666 or 900-999; group 00; serial 0000."""
    area, group, serial = match.group("area", "group", "serial")
    return (area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
            and area + group + serial not in _SPECIMEN_SSNS)


_SEPARATOR = re.compile(r"[ .-]")


def _phone(match: re.Match[str]) -> bool:
    """After "phone:", "call me on" etc. any 9-15 digits; otherwise international (+44, 0044), with an area code
    in brackets, North American 3-3-4 (optionally after a 1), or national with a trunk 0 (020 7946 0958).

    Plain groups of digits are lists, dates, prices and amounts far more often than phone numbers, so without
    a context word they count only in the shapes ordinary numbers rarely take, with one kind of separator.
    """
    number = match.group("number")
    digits = _digits(match.group(0)[len(match.group("context")):])  # with the country code
    if not 9 <= len(digits) <= 15:
        return False
    if match.group("context") or match.group("intl") or match.group("area"):
        return True
    groups = _SEPARATOR.split(number)
    one_separator = len(set(_SEPARATOR.findall(number))) == 1
    north_american = [len(g) for g in groups] == [3, 3, 4] and groups[0][0] in "23456789" and \
        groups[1][0] in "23456789"
    national = number[0] == "0" and len(groups[0]) >= 2 and number[1] != "0" and len(digits) <= 12 and \
        len(groups) >= 2
    return one_separator and (north_american or national)


def _entropy_bits_per_char(token: str) -> float:
    counts = Counter(token)
    return -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())


# Identifiers, not credentials: hex digests, commit SHAs, UUIDs; public by design: subresource-integrity hashes
# and Stripe publishable keys.
_IDENTIFIER = re.compile(r"[0-9a-fA-F]+(?:-[0-9a-fA-F]+)*|sha(?:256|384|512)-.*|pk_(?:live|test)_.*")
_WORD_IN_TOKEN = re.compile(r"[a-z]{3,}|[A-Z]{3,}|[A-Z][a-z]{2,}")


def _random_token(match: re.Match[str]) -> bool:
    """Long, mixed letters and digits, high entropy, not made of words: a credential, not a path or a name.

    Hex strings and UUIDs are identifiers (commit SHAs, digests, request ids) and are admitted; so are names
    mostly made of words (snake_case, CamelCase, SHOUTING_CASE), which random tokens are not.
    """
    token = match.group(0)
    if _IDENTIFIER.fullmatch(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    words = sum(len(word) for word in _WORD_IN_TOKEN.findall(token))
    return has_digit and has_alpha and words < len(token) / 2 and _entropy_bits_per_char(token) >= 3.5


# Docs and code name a secret without giving one: "your_password", "****", "${DB_PASS}", "self.password".
# (Searched, prefix-matched and full-matched separately: one ".*word.*" pattern would be quadratic.)
_PLACEHOLDER_START = re.compile(r"your|enter|insert|replace|[$%<{\[(]", re.IGNORECASE)
_PLACEHOLDER_WORD = re.compile(
    r"pass(?:word|wd)?|secret|example|placeholder|changeme|redacted|dummy|sample|token|xxx|\*\*\*|[(\[{]",
    re.IGNORECASE)
_PLACEHOLDER_WHOLE = re.compile(
    r"none|null|undefined|true|false|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+", re.IGNORECASE)


def _is_placeholder(value: str) -> bool:
    return (len(set(value)) == 1 or _PLACEHOLDER_START.match(value) is not None
            or _PLACEHOLDER_WORD.search(value) is not None or _PLACEHOLDER_WHOLE.fullmatch(value) is not None)


def _password(match: re.Match[str]) -> bool:
    """A literal value: quoted, or with a digit or a symbol; "my password is wrong" gives no password.

    Passwords of lower-case letters only, unquoted ("my password is sunshine"), are not told apart from
    words and are admitted; see docs/cache-admission.md.
    """
    value = match.group("value").strip(".,;:!?)]}>")
    literal = any(c.isdigit() for c in value) or any(not c.isalnum() and c not in "_.-'" for c in value)
    return (bool(match.group("quote")) or literal) and len(value) >= 4 and not _is_placeholder(value)


def _credential(match: re.Match[str]) -> bool:
    """After a credential word, a value with letters and digits is the credential itself."""
    value = match.group("value")
    return (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            and not _is_placeholder(value))


def _bearer(match: re.Match[str]) -> bool:
    """A token has a digit; "Bearer YOUR_TOKEN" and "bearer bonds" are words."""
    return any(c.isdigit() for c in match.group("value"))


def _basic_auth(match: re.Match[str]) -> bool:
    """``Basic`` credentials are base64 of "user:password"; words after "basic" do not decode to that."""
    try:
        decoded = base64.b64decode(match.group("value"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _user, colon, password = decoded.partition(":")
    return bool(colon) and decoded.isprintable() and bool(password) and not _is_placeholder(password)


def _url_credentials(match: re.Match[str]) -> bool:
    return not _is_placeholder(match.group("password"))


_I = re.IGNORECASE
# (name, detector), in the order reasons are given: specific formats first, so a GitHub token is named as one.
# A name may have several detectors (an SSN after "SSN:", or written 3-2-4). Patterns start with a lookahead
# on their first character where they can: the regex engine then rejects most positions at once.
DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("url_credentials", Detector(re.compile(
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s/:@]{0,64}:(?P<password>[^\s/@]{1,128})@"
        r"(?=[A-Za-z0-9\[])"), _url_credentials, ("://",))),
    ("email", Detector(re.compile(
        r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@"
        r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}\b"), needles=("@",))),
    ("openai_key", Detector(re.compile(
        r"(?<![A-Za-z0-9_-])sk-(?:proj-|ant-|live-|test-|svcacct-|admin-)?[A-Za-z0-9_-]{20}"), needles=("sk-",))),
    ("stripe_key", Detector(re.compile(
        r"(?<![A-Za-z0-9])(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{12}|whsec_[A-Za-z0-9]{20})"),
        needles=("sk_", "rk_", "whsec_"))),
    ("aws_access_key", Detector(re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b"),
                                needles=("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "apka"))),
    ("github_token", Detector(re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30}|github_pat_[A-Za-z0-9_]{40})"),
                              needles=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"))),
    ("slack_token", Detector(re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10}"), needles=("xox",))),
    ("webhook_url", Detector(re.compile(
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{16}"
        r"|discord(?:app)?\.com/api/webhooks/\d{6,24}/[A-Za-z0-9_-]{20}", _I),
        needles=("hooks.slack.com", "/api/webhooks/"))),
    ("google_api_key", Detector(re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
                                needles=("aiza",))),
    ("jwt", Detector(re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,256}\.eyJ[A-Za-z0-9_-]{8}"), needles=("eyj",))),
    ("private_key", Detector(re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"))),
    ("bearer_token", Detector(re.compile(
        r"(?<![A-Za-z0-9])bearer[ \t]{1,8}(?P<value>[A-Za-z0-9._~+/-]{6,512})", _I),
        _bearer, ("bearer",))),
    ("basic_auth", Detector(re.compile(
        r"(?<![A-Za-z0-9])basic[ \t]{1,8}(?P<value>[A-Za-z0-9+/]{4,512}={0,2})(?![A-Za-z0-9+/=])", _I),
        _basic_auth, ("basic",))),
    ("password", Detector(re.compile(
        r"(?=[Pp])(?<![A-Za-z0-9])(?:pass(?:word|wd|code|phrase)|pwd)s?(?![A-Za-z0-9])['\"]?"
        r"(?:(?:[ \t]{1,4}[A-Za-z]{1,16}){0,4}[ \t]{0,8}(?:is|was|:=|=>|[:=])[ \t]{0,8}|[ \t]{1,8})"
        r"(?P<quote>['\"`]?)(?P<value>[^\s'\"`]{4,64})(?P=quote)", _I), _password, ("pass", "pwd"))),
    ("credential", Detector(re.compile(
        r"(?=[TtAaSsCcPp])(?<![A-Za-z0-9])(?:token|api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?key|client[_-]?secret|"
        r"auth[_-]?token|private[_-]?key)s?['\"]?(?![A-Za-z0-9_])"
        r"(?:[ \t]{0,8}(?::=|=>|[:=])[ \t]{0,8}|[ \t]{1,8})['\"]?(?P<value>[A-Za-z0-9._~+/=-]{12,256})", _I),
        _credential, ("token", "key", "secret"))),
    ("ssn", Detector(re.compile(
        r"(?=[Ss])(?<![A-Za-z0-9])(?:ssn|ss#|social[ \t]security(?:[ \t]n(?:umber|o\.?))?)[^\d\n]{0,24}"
        r"(?P<area>\d{3})[- ]?(?P<group>\d{2})[- ]?(?P<serial>\d{4})(?![\w-])", _I),
        _ssn, ("ssn", "ss#", "social"), 9)),
    ("ssn", Detector(re.compile(
        r"(?=\d)(?<![\w-])(?P<area>\d{3})(?P<sep>[- ])(?P<group>\d{2})(?P=sep)(?P<serial>\d{4})(?![\w-])"),
        _ssn, min_digits=9)),
    ("card_number", Detector(re.compile(r"(?=\d)(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"), _card, min_digits=13)),
    ("iban", Detector(re.compile(
        r"(?=[A-Za-z]{2}\d\d)(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,40}"), _iban, min_digits=2)),
    ("phone", Detector(re.compile(
        r"(?=[PpMmCcTtWw])(?<![A-Za-z])"
        r"(?P<context>(?:phone|mobile|cell|tel|telephone|whatsapp|contact|call[ \t]me(?:[ \t](?:on|at))?)"
        r"(?:[ \t]{1,4}(?:number|no\.?|num|#))?[ \t]{0,4}[:=]?[ \t]{0,4})"
        r"(?P<intl>\+)?(?P<area>)(?P<number>\d[\d .-]{7,22}\d)(?![\w-])", _I), _phone,
        ("phone", "mobile", "cell", "tel", "whatsapp", "contact", "call"), 9)),
    ("phone", Detector(re.compile(
        r"(?=[+(\d])(?<![\w+.,/:-])(?P<context>)"
        r"(?:(?P<intl>\+|00)[1-9]\d{0,2}(?:[ .-]?\(0\))?[ .-]?|1[ .-])?"
        r"(?P<number>(?:\((?P<area>\d{1,5})\)[ .-]?\d{1,8}|\d{1,12})(?:[ .-]\d{1,8}){0,6})"
        r"(?![\w+]|[.,:/-]\d)"), _phone, min_digits=9)),
    ("high_entropy_token", Detector(re.compile(
        r"(?<![A-Za-z0-9_+/=.-])[A-Za-z0-9_+/=-]{32,512}(?![A-Za-z0-9_+/=.-])"), _random_token, min_digits=1)),
)


def found_in(text: str, detectors: Sequence[tuple[str, Detector]] = DETECTORS) -> Iterator[tuple[str, re.Match[str]]]:
    """Each kind of data found in ``text``, with what was found: in order, lazily (the first is all admission
    needs; reports want them all)."""
    lowered, digits = text.lower(), sum(map(text.count, "0123456789"))
    found: set[str] = set()
    for name, detector in detectors:
        if name not in found:
            match = detector.first_in(text, lowered, digits)
            if match:
                found.add(name)
                yield name, match
