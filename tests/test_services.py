"""The real Redis and PostgreSQL are reachable, and each test gets its own isolated namespace in them."""

from __future__ import annotations

import psycopg
import redis

from tests.conftest import POSTGRES_DSN, REDIS_URL


def test_redis_prefix_isolates_and_cleans_up(redis_prefix: str):
    client = redis.Redis.from_url(REDIS_URL)
    client.set(redis_prefix + "entry", "value", ex=60)

    assert client.get(redis_prefix + "entry") == b"value"
    assert redis_prefix.startswith("costroute-test:")


def test_postgres_schema_is_private_to_the_test(pg_schema: str):
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'CREATE TABLE "{pg_schema}".ledger (id text primary key)')
        connection.execute(f'INSERT INTO "{pg_schema}".ledger VALUES (%s)', ("req-1",))
        rows = connection.execute(f'SELECT id FROM "{pg_schema}".ledger').fetchall()

    assert rows == [("req-1",)]
