"""Which ledger a config asks for: PostgreSQL (``SpendLedger``) or a local JSON-lines file (``FileLedger``).

The spend plugin and the metrics only use what ``Ledger`` lists, so either one plugs in the same way.
"""

from __future__ import annotations

from typing import Protocol

from costroute_plugins.spend.config import LedgerConfig
from costroute_plugins.spend.file_ledger import FileLedger
from costroute_plugins.spend.ledger import LedgerStats, SpendLedger
from costroute_plugins.spend.record import AttributionRecord


class Ledger(Protocol):
    """What the spend plugin calls (``start``, ``submit``, ``drain_to_spool`` at a stop signal), tests and
    shutdown (``flush``, ``close``), and ``LedgerCollector`` reads (``stats``, ``healthy``, ``queued``)."""

    stats: LedgerStats

    @property
    def healthy(self) -> bool: ...

    @property
    def queued(self) -> int: ...

    async def start(self) -> None: ...

    def submit(self, record: AttributionRecord) -> None: ...

    async def flush(self) -> None: ...

    def drain_to_spool(self) -> int: ...

    async def close(self) -> None: ...


def build_ledger(config: LedgerConfig) -> Ledger | None:
    """None when the ledger is off; a file ledger when ``file`` is set; else PostgreSQL at ``dsn``."""
    if not config.enabled:
        return None
    if config.file:
        return FileLedger(config)
    return SpendLedger(config)
