"""Give the development launcher a spend ledger that needs no PostgreSQL: a JSON-lines file in the state folder.

A fresh machine has no PostgreSQL, so a config without a ledger (the shipped ``proxy_config.yaml``) would leave
``costroute report`` nothing to read after ``make run``. The launcher writes the ledger to
``<state dir>/spend.jsonl`` instead and says so at start-up. A config that sets any of ``enabled``, ``dsn`` or
``file`` under ``costroute.spend.ledger`` is the operator's choice and is kept as it is. Production
(``litellm --config``) never goes through this code.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costroute_plugins.config import SECTION
from costroute_plugins.spend.config import LedgerConfig

LEDGER_FILE = "spend.jsonl"
_CHOICES = {"enabled", "dsn", "file"}  # keys that say the config decided where (or whether) rows go


@dataclass(frozen=True)
class LedgerPlan:
    document: dict[str, Any]
    file: Path | None  # the file the launcher chose; None when the config's own ledger setting is kept
    line: str  # what the start-up log says about the ledger


def plan_local_ledger(document: Mapping[str, Any], ledger: LedgerConfig, state_dir: Path) -> LedgerPlan:
    """A copy of the proxy config whose ledger writes to ``state_dir/spend.jsonl`` when it configures none."""
    planned = copy.deepcopy(dict(document))
    if ledger.model_fields_set & _CHOICES:
        if not ledger.enabled:
            where = "off (spend.ledger.enabled: false in the config)"
        elif ledger.file:
            where = f"{ledger.file} (report: costroute report --rows {ledger.file})"
        else:
            where = "PostgreSQL, as configured (report: costroute report --dsn ...)"
        return LedgerPlan(planned, None, f"spend ledger: {where}")
    path = state_dir / LEDGER_FILE
    section = dict(planned.get(SECTION) or {})
    spend = dict(section.get("spend") or {})
    spend["ledger"] = {**(spend.get("ledger") or {}), "enabled": True, "file": str(path)}
    section["spend"] = spend
    planned[SECTION] = section
    return LedgerPlan(planned, path, f"spend ledger: none configured -> one JSON line per request in "
                                     f"{path} (report: costroute report --rows {path})")
