"""Finished audits kept as JSON lines: what ``costroute learn`` turns into the operator's own outcome rows.

Each line is ``Audit.storable``: the numbers always, the prompt and answers only when none of them holds what
the cache's PII admission check refuses (the operator's own patterns included), so an audit never keeps what
the cache would not. Appends are single ``write`` calls of one line on a file opened in append mode, so the
replicas of one host may share a file; across hosts give each replica its own path and pass all of them to
``costroute learn``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from costroute_plugins.quality.audit import Audit, SecretFinder


class AuditRecords:
    def __init__(self, path: str | os.PathLike[str], secret_in: SecretFinder) -> None:
        self.path = Path(path)
        self.secret_in = secret_in

    def append(self, audit: Audit) -> None:
        """Add one finished audit; raises OSError when the file cannot be written (the caller logs it)."""
        line = json.dumps(audit.storable(self.secret_in), ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
