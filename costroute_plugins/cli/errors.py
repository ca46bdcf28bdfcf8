"""One error path for every sub-command: a mistake the user can fix is one line on stderr and exit 1.

Commands raise (or let through) the errors their inputs cause: ``CliError`` from their own checks and from bad
flags, ``OSError`` from opening files, ``ValueError`` from parsing them (every costroute input error subclasses
it, as do ``json.JSONDecodeError`` and ``UnicodeDecodeError``). The dispatcher prints them as
``costroute <command>: error: <message>``, so no command repeats the formatting and none shows a traceback for a
missing file. Any other exception is a bug and keeps its traceback; ``COSTROUTE_DEBUG=1`` keeps the traceback
of the expected errors too, to find where a message came from.
"""

from __future__ import annotations

import os
import sys

DEBUG_ENV = "COSTROUTE_DEBUG"

# What to do about the OS errors a missing or unusable input file raises; the first match applies.
_HINTS: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "check the path"),
    (IsADirectoryError, "give a file, not a folder"),
    (NotADirectoryError, "a part of the path is a file, not a folder"),
    (PermissionError, "check the file's permissions"),
)


class CliError(Exception):
    """A problem the user can fix; the message names the file or flag and says what to do."""


EXPECTED: tuple[type[Exception], ...] = (CliError, OSError, ValueError)


def describe(error: Exception) -> str:
    """The error as one line: an OS error names its file and a next step; other messages are kept, flattened."""
    if isinstance(error, OSError) and error.filename is not None:
        hint = next((text for kind, text in _HINTS if isinstance(error, kind)), None)
        message = f"{error.filename}: {error.strerror or error}" + (f"; {hint}" if hint else "")
    else:
        message = str(error) or type(error).__name__
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def report(prog: str, error: Exception) -> int:
    """Print ``<prog>: error: <one line>`` on stderr and return the exit status of a user error."""
    print(f"{prog}: error: {describe(error)}", file=sys.stderr)
    return 1


def debugging() -> bool:
    """``COSTROUTE_DEBUG`` set (to anything but 0): let expected errors raise with their traceback."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
