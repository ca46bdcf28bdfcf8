"""Turning pydantic validation errors into lines an operator can act on: the dotted key, what is wrong, the fix.

Shared by every settings model (the ``costroute:`` section and each part's own), so all configuration errors
read the same way wherever they are raised.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the nested section at ``loc``, to suggest a fix for an unknown key."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def describe_errors(error: ValidationError, header: str, prefix: str, model: type[BaseModel]) -> str:
    """``header`` then one line per problem: ``<prefix>.<dotted key>: <what is wrong>. Fix: ...``."""
    lines = [header]
    for problem in error.errors():
        loc = tuple(problem["loc"])
        key = ".".join([prefix, *(str(part) for part in loc)])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            valid = fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            fix = f"{hint}valid keys here are {', '.join(valid)}" if valid else "remove it"
            lines.append(f"  {key}: unknown key. Fix: {fix}")
        elif problem["type"] == "value_error":  # our validators' messages already say how to fix it
            lines.append(f"  {key}: {message}")
        else:
            lines.append(f"  {key}: {message} (got {problem.get('input')!r}). Fix: change the value of {key}")
    return "\n".join(lines)
