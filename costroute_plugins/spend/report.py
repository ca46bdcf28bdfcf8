"""Spend report from the ledger: cost, savings by kind, requests, cache-hit rate and tier mix per group.

Sums are computed by PostgreSQL over NUMERIC columns and returned as ``Decimal``, so a report's total equals
the sum of the ledger rows exactly; formatting rounds only for display.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

import psycopg
from psycopg import sql

from costroute_plugins.spend.schema import table_name

# Every attribution column a report can group by (see ``schema``), plus the calendar day in ``tz``.
GroupBy = Literal["tenant", "team", "key", "feature", "experiment", "variant", "tier", "model", "day"]
GROUPS: tuple[GroupBy, ...] = get_args(GroupBy)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class ReportRow:
    group: str
    requests: int
    cost_usd: Decimal
    cache_saving_usd: Decimal
    routing_saving_usd: Decimal
    cache_hits: int
    tier_share: dict[str, float] = field(default_factory=dict)  # share of this group's requests per tier
    # costroute's own spend (quality audits: reference answers and judge calls), part of ``cost_usd``
    audit_usd: Decimal = Decimal(0)

    @property
    def premium_counterfactual_usd(self) -> Decimal:
        """Cost had every request gone to premium with no cache (and costroute spent nothing of its own)."""
        return self.cost_usd - self.audit_usd + self.cache_saving_usd + self.routing_saving_usd

    @property
    def net_saving_usd(self) -> Decimal:
        """What costroute saved after paying for its own audits."""
        return self.cache_saving_usd + self.routing_saving_usd - self.audit_usd

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0


def _group_expression(by: GroupBy) -> sql.Composable:
    if by == "day":
        return sql.SQL("to_char(timestamp AT TIME ZONE %(tz)s, 'YYYY-MM-DD')")
    return sql.SQL("coalesce({}, '(none)')").format(sql.Identifier(by))


def build_report(connection: psycopg.Connection, schema: str, table: str, by: GroupBy, since: timedelta,
                 tz: str = "UTC", now: datetime | None = None) -> list[ReportRow]:
    """One row per group over the last ``since``, dearest first (by day: in date order)."""
    params = {"since": (now or datetime.now(UTC)) - since, "tz": tz}
    group = _group_expression(by)
    source = table_name(schema, table)
    totals = connection.execute(sql.SQL(
        "SELECT {g} AS grp, count(*) FILTER (WHERE decision IS DISTINCT FROM 'audit'), sum(cost_usd), "
        "sum(cache_saving_usd), sum(routing_saving_usd), count(*) FILTER (WHERE cache_hit), "
        "coalesce(sum(cost_usd) FILTER (WHERE decision = 'audit'), 0) FROM {t} WHERE timestamp >= %(since)s "
        "GROUP BY grp"
    ).format(g=group, t=source), params).fetchall()
    tiers = connection.execute(sql.SQL(
        "SELECT {g} AS grp, coalesce(tier, '(none)'), count(*) FROM {t} WHERE timestamp >= %(since)s "
        "AND decision IS DISTINCT FROM 'audit' GROUP BY grp, 2"
    ).format(g=group, t=source), params).fetchall()
    counts = {name: requests for name, requests, *_ in totals}
    shares: dict[str, dict[str, float]] = {}
    for name, tier, requests in tiers:
        shares.setdefault(name, {})[tier] = requests / counts[name]
    rows = [ReportRow(name, requests, cost, cache, routing, hits, dict(sorted(shares.get(name, {}).items())), audit)
            for name, requests, cost, cache, routing, hits, audit in totals]
    if by == "day":
        return sorted(rows, key=lambda r: r.group)
    return sorted(rows, key=lambda r: (-r.cost_usd, r.group))


HEADERS = ("group", "requests", "cost_usd", "cache_saving_usd", "routing_saving_usd", "audit_usd", "net_saving_usd",
           "premium_counterfactual_usd", "cache_hit_rate", "tier_share")


def _cells(row: ReportRow) -> list[str]:
    tiers = " ".join(f"{tier}:{share:.0%}" for tier, share in row.tier_share.items())
    return [row.group, str(row.requests), *(f"{v.quantize(CENT)}" for v in (
        row.cost_usd, row.cache_saving_usd, row.routing_saving_usd, row.audit_usd, row.net_saving_usd,
        row.premium_counterfactual_usd)),
        f"{row.cache_hit_rate:.1%}", tiers]


def _total(rows: list[ReportRow]) -> ReportRow:
    requests = sum(r.requests for r in rows)
    tiers: dict[str, float] = {}
    for r in rows:
        for tier, share in r.tier_share.items():
            tiers[tier] = tiers.get(tier, 0.0) + share * r.requests / requests
    return ReportRow("TOTAL", requests, sum((r.cost_usd for r in rows), Decimal(0)),
                     sum((r.cache_saving_usd for r in rows), Decimal(0)),
                     sum((r.routing_saving_usd for r in rows), Decimal(0)), sum(r.cache_hits for r in rows),
                     dict(sorted(tiers.items())), sum((r.audit_usd for r in rows), Decimal(0)))


def format_report(rows: list[ReportRow], by: GroupBy, fmt: Literal["table", "csv", "json"]) -> str:
    """``table`` for people (cents, a TOTAL line), ``csv`` and ``json`` for tools (exact amounts)."""
    if fmt == "json":
        return json.dumps([{
            by: r.group, "requests": r.requests, "cost_usd": str(r.cost_usd),
            "cache_saving_usd": str(r.cache_saving_usd), "routing_saving_usd": str(r.routing_saving_usd),
            "audit_usd": str(r.audit_usd), "net_saving_usd": str(r.net_saving_usd),
            "premium_counterfactual_usd": str(r.premium_counterfactual_usd),
            "cache_hit_rate": round(r.cache_hit_rate, 4),
            "tier_share": {tier: round(share, 4) for tier, share in r.tier_share.items()},
        } for r in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([by, *HEADERS[1:]])
        for r in rows:
            writer.writerow([r.group, r.requests, r.cost_usd, r.cache_saving_usd, r.routing_saving_usd,
                             r.audit_usd, r.net_saving_usd, r.premium_counterfactual_usd, f"{r.cache_hit_rate:.4f}",
                             " ".join(f"{t}:{s:.4f}" for t, s in r.tier_share.items())])
        return out.getvalue()
    table = [[by, *HEADERS[1:]], *(_cells(r) for r in rows)]
    if rows:
        table.append(_cells(_total(rows)))
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    return "\n".join("  ".join(cell.ljust(width) if i in (0, len(HEADERS) - 1) else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(line, widths))).rstrip()
                     for line in table)
