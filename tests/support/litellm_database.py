"""The two databases of ``deploy/postgres/init-databases.sh`` on the test PostgreSQL, and LiteLLM's schema in one.

LiteLLM applies its migrations with ``prisma migrate deploy``, whose engines cannot be downloaded here; applying
the same SQL files in order with ``psql`` as the role the script creates checks the part the deployment owns:
that role may create everything LiteLLM's schema needs.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import litellm_proxy_extras
import psycopg
from psycopg import sql

from tests.support.deploy_files import DEPLOY

INIT_SCRIPT = DEPLOY / "postgres" / "init-databases.sh"
MIGRATIONS = Path(litellm_proxy_extras.__file__).parent / "migrations"
SPEND_LOGS = "LiteLLM_SpendLogs"


@dataclass(frozen=True)
class Databases:
    """The script's ledger and LiteLLM databases on the server of ``admin_dsn``, each with its role of the same
    name."""

    admin_dsn: str
    ledger: str
    litellm: str

    @classmethod
    def named_uniquely(cls, admin_dsn: str) -> Databases:
        suffix = uuid.uuid4().hex[:10]
        return cls(admin_dsn, ledger=f"deploy_test_{suffix}_costroute", litellm=f"deploy_test_{suffix}_litellm")

    def dsn(self, database: str, role: str) -> str:
        admin = urlsplit(self.admin_dsn)
        return admin._replace(netloc=f"{role}@{admin.netloc.split('@')[-1]}", path=f"/{database}").geturl()

    @property
    def litellm_dsn(self) -> str:
        return self.dsn(self.litellm, self.litellm)

    def create(self) -> subprocess.CompletedProcess:
        """Run the init script as the admin role, as the postgres image runs it on first start."""
        admin = urlsplit(self.admin_dsn)
        env = {**os.environ, "PGHOST": admin.hostname or "127.0.0.1", "PGPORT": str(admin.port or 5432),
               "POSTGRES_USER": admin.username or "postgres", "POSTGRES_DB": admin.path.lstrip("/"),
               "COSTROUTE_DB_NAME": self.ledger, "LITELLM_DB_NAME": self.litellm,
               "COSTROUTE_DB_PASSWORD": "ledger'pass:word", "LITELLM_DB_PASSWORD": "litellm-pass"}
        return subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)

    def drop(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            for name in (self.ledger, self.litellm):
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def migration_scripts() -> list[Path]:
    return sorted(MIGRATIONS.glob("*/migration.sql"))


def apply_litellm_migrations(dsn: str) -> subprocess.CompletedProcess:
    """Every migration LiteLLM ships, in order, in one psql session that stops at the first error."""
    included = "".join(f"\\i '{script}'\n" for script in migration_scripts())  # some folder names have spaces
    return subprocess.run(["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-q", dsn], input=included,
                          capture_output=True, text=True, timeout=300)


def insert_spend_logs(dsn: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rows as LiteLLM's spend writer queues them, inserted column for column (Prisma's ``create_many`` does the
    same with its engine): a key that is not a column fails."""
    with psycopg.connect(dsn) as connection:
        for row in rows:
            connection.execute(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(SPEND_LOGS), sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row))), list(row.values()))
