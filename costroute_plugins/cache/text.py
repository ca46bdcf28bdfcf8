"""Text normalisation and the small lexical facts the exact tier and the verifier reason about.

Embeddings blur exactly the details that make two prompts need different answers (a year, a city, a "not"),
so the verifier compares those details symbolically. Everything here is pure and cheap: it runs on every
cache candidate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_RAW_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*\.?")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?(?![\d])", re.IGNORECASE)
# Letters then digits in one token (A380, iPhone15, order ORD1234): a code whose digits change the subject.
_CODE = re.compile(r"\b[A-Za-z]+\d+[A-Za-z0-9]*\b(?!\.\d)")
# Operators and the numbers they combine, in order: "3 - 5" is not "5 - 3", "x^2" is not "x*2", "C++" is not "C#",
# "x := 1" is not "x = 1". A lone ":" or "?" is prose punctuation.
_EXPRESSION = re.compile(r"(?<!\w)\d[\d,]*(?:\.\d+)?|:=|::|[-+*/^%=<>!~&|#\\@]+|[()\[\]{}]")
_OPERATOR_CHARS = frozenset("-+*/^%=<>!~&|#\\@:")
# Web addresses are names, not arithmetic: their "/", ":", "?" and "=" are left out of the expression.
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_BRACKETS = frozenset("()[]{}")
# A name (letters, maybe digits) written right against an operator, before or after it: "i" in "i++" and "++i".
_GLUED_BEFORE = re.compile(r"(?<![\w])[^\W\d_]\w*$")
_GLUED_AFTER = re.compile(r"[^\W\d_]\w*")
# Dotted versions and addresses (v2.10, 2.10.0, 192.168.1.1) are compared verbatim: read as decimals, "2.10.0"
# and "2.1.0" would both be 2.1. A version has a "v" before it or at least two dots; "3.10" stays a number.
_DOTTED = re.compile(r"(?<![\w.])(v?)(\d+(?:\.\d+)+)(?!\.?\d)", re.IGNORECASE)

STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from into onto about as is are was were be been
    being am do does did doing have has had having i me my we our you your he him his she her it its they them
    their this that these those there here what which who whom whose when where why how can could would should
    will shall may might must also just very really any some all each every much many more most such than too
    up down out over under again further once only own same s t don get got one ones someone something anyone
    anything thing things way ways please tell know let us use using used make made go going want like need
    best good better""".split()
)

# Words that flip a statement. Contractions are split by the tokenizer pattern ("don't" -> "don't").
NEGATIONS = frozenset(
    """not no never none nobody nothing neither nor without cannot can't won't don't doesn't didn't isn't aren't
    wasn't weren't shouldn't wouldn't couldn't haven't hasn't hadn't mustn't n't""".split()
)

# Canonical unit per surface form; two prompts asking in different units need different answers.
_UNIT_FORMS: dict[str, tuple[str, ...]] = {
    "metre": ("m", "meter", "meters", "metre", "metres"),
    "kilometre": ("km", "kms", "kilometer", "kilometers", "kilometre", "kilometres"),
    "centimetre": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "millimetre": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "mile": ("mi", "mile", "miles"),
    "foot": ("ft", "foot", "feet"),
    "inch": ("in.", "inch", "inches"),
    "yard": ("yd", "yard", "yards"),
    "kilogram": ("kg", "kgs", "kilogram", "kilograms", "kilo", "kilos"),
    "gram": ("g", "gram", "grams"),
    "pound": ("lb", "lbs", "pound", "pounds"),
    "ounce": ("oz", "ounce", "ounces"),
    "litre": ("l", "liter", "liters", "litre", "litres"),
    "millilitre": ("ml", "milliliter", "milliliters", "millilitre", "millilitres"),
    "gallon": ("gal", "gallon", "gallons"),
    "celsius": ("c", "°c", "celsius", "centigrade"),
    "fahrenheit": ("f", "°f", "fahrenheit"),
    "kelvin": ("k", "kelvin"),
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("min", "mins", "minute", "minutes"),
    "hour": ("h", "hr", "hrs", "hour", "hours"),
    "day": ("day", "days"),
    "week": ("week", "weeks"),
    "month": ("month", "months"),
    "year": ("yr", "yrs", "year", "years"),
    "byte": ("byte", "bytes"),
    "kilobyte": ("kb", "kilobyte", "kilobytes"),
    "megabyte": ("mb", "megabyte", "megabytes"),
    "gigabyte": ("gb", "gigabyte", "gigabytes"),
    "terabyte": ("tb", "terabyte", "terabytes"),
    "dollar": ("$", "usd", "dollar", "dollars"),
    "euro": ("€", "eur", "euro", "euros"),
    "pound sterling": ("£", "gbp", "sterling"),
    "yen": ("¥", "jpy", "yen"),
    "rupee": ("₹", "inr", "rupee", "rupees", "rs"),
    "percent": ("%", "percent", "per cent", "percentage"),
    "watt": ("w", "watt", "watts"),
    "kilowatt": ("kw", "kilowatt", "kilowatts"),
    "volt": ("v", "volt", "volts"),
    "mph": ("mph",),
    "kph": ("kph", "km/h", "kmh"),
}
UNITS: dict[str, str] = {form: unit for unit, forms in _UNIT_FORMS.items() for form in forms}
# Single letters ("m", "c", "s") are units only right after a number; longer names are units anywhere.
_UNIT_AFTER_NUMBER = re.compile(
    r"\d\s*(%|°[cf]|[$€£¥₹]|[a-z]{1,3}(?:/h)?)\b", re.IGNORECASE
)
_CURRENCY_BEFORE_NUMBER = re.compile(r"([$€£¥₹])\s*\d")

_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
     "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000", "first": "1",
     "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7", "eighth": "8",
     "ninth": "9", "tenth": "10", "half": "0.5", "dozen": "12", "teens": "13-19", "twenties": "20s",
     "thirties": "30s", "forties": "40s", "fifties": "50s", "sixties": "60s", "seventies": "70s",
     "eighties": "80s", "nineties": "90s"}

# Words that give a sentence a direction: "A faster than B", "convert A to B", "from A into B".
DIRECTIONAL = frozenset(
    """than vs versus better worse bigger smaller larger faster slower cheaper costlier higher lower more less
    greater fewer older younger stronger weaker safer harder easier over to from into""".split()
)


def normalise(text: str) -> str:
    """A loose form for lexical similarity (the verifier's ``char_ratio`` feature, matching a hit to its pair):
    case, width, punctuation and whitespace folded.

    Loose on purpose and never a key: it drops operators ("3 + 5" and "3 - 5" both read "3 5"), so prompts equal
    under it may need different answers. The shipped verifier was trained on this form; the exact tier keys on
    ``exact_form``.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s%$€£¥₹.+-]", " ", text)
    text = re.sub(r"(?<!\d)[.+-]|[.+-](?!\d)", " ", text)  # keep 3.5, -2, +1 but drop sentence punctuation
    return " ".join(text.split())


# A word or number ("3.5", "1,000", "v2.10" stay whole), or any other single character.
_EXACT_TOKEN = re.compile(r"\w+(?:[.,]\d+)*|[^\w\s]")
_QUOTES = frozenset("'\"`‘’‚“”„«»")
# Sentence punctuation when it ends a word: before a space, the end, a quote or more of it ("Hello, world.", "Why?").
# Before anything else it is code and kept: "a.b", "(,)", "x := 1", "a ? b : c".
_STOPS = frozenset(".,;:?¿")
_ENDS_A_STOP = _QUOTES | _STOPS


def exact_form(text: str) -> str:
    """The exact tier's key text: prompts equal under it are the same request written differently.

    Folded: case, width (NFKC), whitespace (also next to symbols: "3+5" is "3 + 5"), quotes, sentence punctuation
    (". , ; : ?" ending a word) and the hyphen inside a word ("low-budget" is "low budget"). Kept: every other
    character, in order, so prompts differing in an operator ("3 + 5" / "3 - 5", "i++" / "++i", "C++" / "C#" / "C",
    "a && b" / "a || b", "x^2" / "x*2", "x = 1" / "x := 1") or a digit never share a key.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens = []
    for match in _EXACT_TOKEN.finditer(text):
        token, end = match.group(0), match.end()
        if token in _QUOTES or (token == "-" and _inside_word(text, match.start())):
            continue
        following = text[end : end + 1]
        if token in _STOPS and (not following or following.isspace() or following in _ENDS_A_STOP):
            continue
        tokens.append(token)
    return " ".join(tokens)


def _inside_word(text: str, position: int) -> bool:
    """Whether ``text[position]`` has a letter on both sides ("state-of-the-art", not "x-1" or "a - b")."""
    return 0 < position < len(text) - 1 and text[position - 1].isalpha() and text[position + 1].isalpha()


def text_hash(text: str) -> str:
    """Key of the exact-match tier."""
    return hashlib.sha256(exact_form(text).encode("utf-8", "surrogatepass")).hexdigest()


def _canonical_number(raw: str) -> str:
    raw = re.sub(r"(st|nd|rd|th)$", "", raw.lower()).replace(",", "").lstrip("+")
    try:
        value = float(raw)
    except ValueError:
        return raw
    return f"{value:g}"


@dataclass(frozen=True)
class Facts:
    """What the verifier compares between a query and a cached prompt."""

    text: str

    @cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(_WORD.findall(unicodedata.normalize("NFKC", self.text).casefold().replace("’", "'")))

    @cached_property
    def content(self) -> frozenset[str]:
        return frozenset(_stem(w) for w in self.words if w not in STOPWORDS and w not in NEGATIONS)

    @cached_property
    def content_sequence(self) -> tuple[str, ...]:
        return tuple(_stem(w) for w in self.words if w not in STOPWORDS and w not in NEGATIONS)

    @cached_property
    def numbers(self) -> frozenset[str]:
        versions: set[str] = set()

        def take_version(match: re.Match[str]) -> str:
            if not match.group(1) and match.group(2).count(".") < 2:
                return match.group(0)
            versions.add("v" + match.group(2))
            return " "

        rest = _DOTTED.sub(take_version, self.text)
        found = {_canonical_number(m) for m in _NUMBER.findall(rest)} | versions
        found |= {_NUMBER_WORDS[w] for w in self.words if w in _NUMBER_WORDS and w != "second"}
        found |= {code.lower() for code in _CODE.findall(self.text)}
        return frozenset(found)

    @cached_property
    def _symbols(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(expression, slashes and dashes): see ``expression`` and ``prose_symbols``."""
        expression: list[str] = []
        prose: list[str] = []
        text = _URL.sub(lambda url: " " * len(url.group(0)), self.text)
        for match in _EXPRESSION.finditer(text):
            token = match.group(0)
            if token[0].isdigit():
                expression.append(_canonical_number(token))
                continue
            if token in _BRACKETS:  # they group operands: "(a+b)*c" is not "a+(b*c)"
                expression.append(token)
                continue
            kind = _symbol_kind(text, match.start(), match.end())
            if kind == "operator":
                # One character each, so spacing between them never matters ("a & & b" is "a&&b"); a name written
                # against the operator goes with it, so "i++" is not "++i".
                before = _GLUED_BEFORE.search(text, max(0, match.start() - 32), match.start())
                after = _GLUED_AFTER.match(text, match.end(), match.end() + 32)
                expression.extend(([before.group(0).casefold()] if before else []) + list(token)
                                  + ([after.group(0).casefold()] if after else []))
            elif kind == "prose":
                prose.append(token)
        return tuple(expression), tuple(prose)

    @property
    def expression(self) -> tuple[str, ...]:
        """Numbers, brackets, operator characters and the names written against them, in order: "x = -1" ->
        ("=", "-", "1"), "C++" -> ("c", "+", "+"). Characters that only punctuate prose are left out
        (``prose_symbols``, ``_symbol_kind``)."""
        return self._symbols[0]

    @property
    def operators(self) -> tuple[str, ...]:
        """The operator characters of ``expression``: without one, brackets and numbers are prose and numbers."""
        return tuple(token for token in self.expression if token in _OPERATOR_CHARS)

    @property
    def prose_symbols(self) -> tuple[str, ...]:
        """Slashes, ampersands and dashes used as words ("his/her", "R&D", "Grammar - usage"), which may also be
        arithmetic between letters ("a / b", "a - b")."""
        return self._symbols[1]

    @cached_property
    def negations(self) -> int:
        return sum(1 for w in self.words if w in NEGATIONS or w.endswith("n't"))

    @cached_property
    def units(self) -> frozenset[str]:
        """Measurement units named anywhere, and time spans only right after a number ("3 days")."""
        words = [_stem_possessive(w) for w in self.words]
        found = {
            UNITS[w] for previous, w in zip(("",) + tuple(words), words)
            if len(w) > 2 and w in UNITS and (UNITS[w] not in _TIME_UNITS or previous in _BEFORE_TIME_UNIT)
        }
        if "per cent" in self.text.casefold():
            found.add("percent")
        for match in _UNIT_AFTER_NUMBER.finditer(self.text):
            unit = UNITS.get(match.group(1).casefold())
            if unit:
                found.add(unit)
        found |= {UNITS[m] for m in _CURRENCY_BEFORE_NUMBER.findall(self.text)}
        return frozenset(found)

    @cached_property
    def entities(self) -> frozenset[str]:
        """Capitalised words that do not start a sentence: names of people, places, products, versions."""
        found: set[str] = set()
        sentence_start = True
        for token in _RAW_WORD.findall(self.text):
            word = token.rstrip(".")
            lowered = word.casefold()
            # "Paris", "NASA", and single letters that name something ("level L", "plan B"), but not "I" or "A".
            capitalised = word[:1].isupper() and (len(word) > 1 or word not in ("I", "A"))
            if capitalised and not sentence_start and lowered not in NEGATIONS and lowered != "i":
                found.add(_stem(lowered))
            sentence_start = token.endswith(".") and len(word) > 3
        return frozenset(found)

    @cached_property
    def directional(self) -> bool:
        return any(w in DIRECTIONAL for w in self.words)


def _symbol_kind(text: str, start: int, end: int) -> str:
    """What the run of operator characters ``text[start:end]`` is:

    - "ignored": the "!" ending "Hello!", the "%" of "50% of users" (a unit, compared by the unit rule);
    - "prose": a lone "-" not before a number ("state-of-the-art", "an 18-year -old", "Grammar - usage"), a dash
      written as hyphens between spaces ("debut -- 20 years"), a lone "/" or "&" not between numbers ("his/her",
      "F1/OPT", "R&D"): usually a word, but "a / b" and "a-b" are arithmetic;
    - "operator": everything else ("3 - 5", "-5", "1/2", "x^2", "a && b", "C++", "C#", "!x", "7 % 3", "5%y").
    """
    symbol = text[start:end]
    previous, following = text[start - 1 : start] or " ", text[end : end + 1] or " "
    # The nearest characters on either side past a few spaces (bounded, so a long text stays linear).
    before = text[max(0, start - 8) : start].rstrip()[-1:]
    after = text[end : end + 8].lstrip()[:1]
    if symbol == "!" and previous.isalpha() and not (following.isalnum() or following in "=(_"):
        return "ignored"
    if symbol == "%" and previous.isdigit() and not (following.isalnum() or after.isdigit()):
        return "ignored"
    if (symbol == "-" and not after.isdigit()) or (symbol in ("/", "&") and not (before.isdigit() and after.isdigit())):
        return "prose"
    if set(symbol) == {"-"} and len(symbol) > 1 and previous.isspace() and following.isspace():
        return "prose"
    return "operator"


_TIME_UNITS = frozenset({"second", "minute", "hour", "day", "week", "month", "year"})
# "how many minutes", "per hour", "in seconds" ask in a unit; "the second half", "last year" do not.
_BEFORE_TIME_UNIT = frozenset({"many", "per", "in"})


def _stem_possessive(word: str) -> str:
    return word.removesuffix("'s")


def _stem(word: str) -> str:
    """A crude plural/possessive fold, enough to match "cars" with "car" and "Paris's" with "Paris"."""
    word = word.replace("’", "'")
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
