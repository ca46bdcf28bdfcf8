"""The flag conventions of every sub-command (docs/cli.md), in one place so commands cannot drift apart again.

One spelling per concept, with an old spelling kept as a hidden alias that still works and says so; ``--json``
on every command a script reads; a file flag takes one or more files, either ``--flag A B`` or
``--flag A --flag B``; and a usage mistake is a one-line error with exit 1, like a bad input file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from costroute_plugins.cli.errors import CliError


class CommandParser(argparse.ArgumentParser):
    """A sub-command's parser. Usage errors raise ``CliError`` (the dispatcher prints one line and exits 1)
    instead of argparse's usage block and exit 2; deprecated spellings are rewritten before parsing, so they
    satisfy ``required`` flags and stay out of ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deprecated: dict[str, str] = {}

    def deprecate(self, old: str, new: str) -> None:
        """Keep ``old`` working as a hidden alias of ``new``; each use prints a one-line note on stderr."""
        self.deprecated[old] = new

    # Any: argparse's overloads return the type of the namespace given, and this passes it through unchanged.
    def parse_known_args(self, args: Iterable[str] | None = None, namespace: Any = None) -> tuple[Any, list[str]]:
        return super().parse_known_args(self._current_spelling(sys.argv[1:] if args is None else list(args)),
                                        namespace)

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")

    def _current_spelling(self, argv: Sequence[str]) -> list[str]:
        rewritten: list[str] = []
        noted: set[str] = set()
        for index, token in enumerate(argv):
            if token == "--":  # everything after is a value, never a flag
                return rewritten + list(argv[index:])
            flag, equals, value = token.partition("=")
            if flag in self.deprecated:
                if flag not in noted:
                    deprecated_use(self.prog, flag, self.deprecated[flag])
                    noted.add(flag)
                token = self.deprecated[flag] + equals + value
            rewritten.append(token)
        return rewritten


def add_json_flag(parser: argparse.ArgumentParser, always: bool = False) -> None:
    """``--json``: machine-readable output on stdout. Where the output is JSON anyway it is accepted (and does
    nothing) so a script can pass ``--json`` to every command without knowing which."""
    parser.add_argument("--json", action="store_true",
                        help="accepted for scripts; the output is JSON anyway" if always else
                        "print JSON for scripts instead of text for people")


def add_files_flag(parser: argparse.ArgumentParser, flag: str, help_text: str, required: bool = True) -> None:
    """A flag taking one or more files, given as ``FLAG A B`` or ``FLAG A FLAG B`` (both read in order)."""
    parser.add_argument(flag, action="extend", nargs="+", required=required, metavar="FILE",
                        help=f"{help_text}; one or more ({flag} A B or {flag} A {flag} B)")


def deprecated_use(prog: str, old: str, new: str) -> None:
    """The note for an old spelling a parser cannot rewrite (a positional argument that became a flag)."""
    print(f"{prog}: note: {old} is deprecated, use {new}", file=sys.stderr)
