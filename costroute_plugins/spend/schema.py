"""The ledger table: one row per request id, money in NUMERIC so sums are exact.

The primary key on ``request_id`` plus ``ON CONFLICT DO NOTHING`` is what makes every write retry-safe: a batch
replayed from the spool, or written twice around a lost acknowledgement, never counts a request twice.
"""

from __future__ import annotations

from psycopg import sql

from costroute_plugins.spend.record import COLUMNS, AttributionRecord

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    request_id         text PRIMARY KEY,
    tenant             text NOT NULL,
    cost_usd           numeric(20, 10) NOT NULL,
    timestamp          timestamptz NOT NULL,
    team               text,
    key                text,
    end_user           text,
    feature            text,
    experiment         text,
    variant            text,
    tier               text,
    model              text,
    deployment         text,
    prompt_tokens      integer NOT NULL DEFAULT 0,
    completion_tokens  integer NOT NULL DEFAULT 0,
    cached_tokens      integer NOT NULL DEFAULT 0,
    cache_hit          boolean NOT NULL DEFAULT false,
    cache_saving_usd   numeric(20, 10) NOT NULL DEFAULT 0,
    routing_saving_usd numeric(20, 10) NOT NULL DEFAULT 0,
    decision           text,
    budget_state       text
)
"""


def table_name(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def create_statements(schema: str, table: str) -> list[sql.Composed]:
    """Schema, table and the time index reports filter on, each created only if missing."""
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        sql.SQL(_DDL).format(table=table_name(schema, table)),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (timestamp)").format(
            sql.Identifier(f"{table}_timestamp_idx"), table_name(schema, table)),
    ]


def insert_statement(schema: str, table: str) -> sql.Composed:
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (request_id) DO NOTHING").format(
        table_name(schema, table),
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(COLUMNS)),
    )


def row(record: AttributionRecord) -> tuple:
    return tuple(getattr(record, column) for column in COLUMNS)
