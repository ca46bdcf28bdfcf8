"""What costroute prints about its configuration: validation errors as lines an operator can act on (the dotted
key, what is wrong, the fix), and secrets masked wherever a setting is shown.

Shared by every settings model (the ``costroute:`` section and each part's own), by ``costroute check-config``
and by the proxy's start-up log, so all configuration messages read the same way and none leaks a password.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

#: Settings whose values carry credentials: a password in a URL or DSN, a token in a webhook path.
SECRET_KEYS = frozenset({"redis_url", "dsn", "webhook_url"})
MASK = "***"
_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|token|key|secret)=)[^&#]*", re.IGNORECASE)
_USERINFO = re.compile(r"([^\s/:@]*):[^\s@]*@")  # user:password@ in a URL whose scheme is mistyped
_MASKED = r"\g<1>" + MASK


def redact_url(value: str) -> str:
    """``value`` with the password of a URL's user part, of a ``password=`` query parameter or of a libpq
    ``key=value`` string replaced by ``***``; host, port and database stay, so the operator sees which endpoint
    is meant. Everything up to the last ``@`` counts as the user part, and a mistyped URL is masked as well as
    it can be: masking too much beats leaking."""
    scheme, separator, rest = value.partition("://")
    if separator:
        userinfo, at, host = rest.rpartition("@")
        if at and ":" in userinfo:
            rest = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
        value = f"{scheme}://{rest}"
    else:
        value = _USERINFO.sub(rf"\g<1>:{MASK}@", _KEYWORD_PASSWORD.sub(_MASKED, value))
    return _QUERY_SECRET.sub(_MASKED, value)


def redact_webhook(value: str) -> str:
    """A webhook URL's token usually is its path (Slack, Teams): only the scheme and host are shown."""
    scheme, separator, rest = value.partition("://")
    if not separator:
        rest = value
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    shown = f"{scheme}{separator}{host}" if separator else host
    return shown if host == rest else f"{shown}/{MASK}"


def redact(key: str, value: Any) -> Any:
    """``value`` as it may be printed under the setting ``key`` (the last part of its dotted name)."""
    if not isinstance(value, str) or key not in SECRET_KEYS:
        return value
    return redact_webhook(value) if key == "webhook_url" else redact_url(value)


def redact_tree(values: Any) -> Any:
    """A dumped settings tree (dicts and lists) with every secret setting redacted, at any depth."""
    if isinstance(values, dict):
        return {key: redact_tree(redact(str(key), value)) for key, value in values.items()}
    if isinstance(values, list):
        return [redact_tree(value) for value in values]
    return values


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the nested section at ``loc``, to suggest a fix for an unknown key."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def error_lines(error: ValidationError, prefix: str, model: type[BaseModel]) -> list[str]:
    """One line per problem: ``<prefix>.<dotted key>: <what is wrong>. Fix: ...``, secrets redacted."""
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        key = ".".join([prefix, *(str(part) for part in loc)])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            valid = fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fix = f"{hint}valid keys here are {', '.join(valid)}" if valid else "remove it"
            lines.append(f"{key}: unknown key. Fix: {fix}")
        elif problem["type"] == "value_error":  # our validators' messages already say how to fix it
            lines.append(f"{key}: {message}")
        else:
            shown = redact(str(loc[-1]) if loc else "", problem.get("input"))
            lines.append(f"{key}: {message} (got {shown!r}). Fix: change the value of {key}")
    return lines


def describe_errors(error: ValidationError, header: str, prefix: str, model: type[BaseModel]) -> str:
    """``header`` then the indented ``error_lines``."""
    return "\n".join([header, *(f"  {line}" for line in error_lines(error, prefix, model))])
