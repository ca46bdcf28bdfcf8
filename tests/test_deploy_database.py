"""LiteLLM's own database in every deployment: compose and Kubernetes give the proxies ``DATABASE_URL``, run
LiteLLM's migrations once before any proxy serves, and read the master key, the salt key and the Admin UI login
from secrets.

What runs here: the init script that creates both databases, on the real PostgreSQL, and every migration LiteLLM
ships (its SQL, in order) applied as the role that script creates, so the role needs no more rights than it has.
What cannot: LiteLLM applying them itself (``prisma migrate deploy``) and the proxy on that database, both of
which need Prisma engines that cannot be downloaded here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from costroute_plugins.spend.schema import create_statements
from tests.conftest import POSTGRES_DSN
from tests.support.deploy_files import compose, compose_with, env_example, env_of, manifest
from tests.support.litellm_database import INIT_SCRIPT, Databases, apply_litellm_migrations, migration_scripts


# -- compose ---------------------------------------------------------------------------------------------------------
def test_compose_migrates_litellms_database_once_before_either_proxy_starts():
    services = compose()["services"]
    migrate, proxies = services["litellm-migrate"], [services["proxy-1"], services["proxy-2"]]

    assert migrate["image"] == proxies[0]["image"], "the migrations of the LiteLLM release the proxies run"
    assert "--skip_server_startup" in migrate["command"]
    assert migrate["environment"]["DISABLE_SCHEMA_UPDATE"] == "false"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for proxy in proxies:
        assert proxy["depends_on"]["litellm-migrate"]["condition"] == "service_completed_successfully"
        assert proxy["environment"]["DISABLE_SCHEMA_UPDATE"] == "true"
        assert proxy["environment"]["DATABASE_URL"] == migrate["environment"]["DATABASE_URL"]


def test_compose_gives_litellm_and_the_ledger_a_database_and_role_each_on_one_server():
    services = compose_with(env_example())["services"]
    environment, postgres = services["proxy-1"]["environment"], services["postgres"]
    litellm, ledger = urlsplit(environment["DATABASE_URL"]), urlsplit(environment["COSTROUTE_LEDGER_DSN"])

    assert (litellm.hostname, litellm.username, litellm.path) == ("postgres", "litellm", "/litellm")
    assert (ledger.hostname, ledger.username, ledger.path) == ("postgres", "costroute", "/costroute")
    assert f"./postgres/{INIT_SCRIPT.name}:/docker-entrypoint-initdb.d/10-{INIT_SCRIPT.name}:ro" in postgres["volumes"]
    assert (litellm.password, ledger.password) == (postgres["environment"]["LITELLM_DB_PASSWORD"],
                                                   postgres["environment"]["COSTROUTE_DB_PASSWORD"])
    assert os.access(INIT_SCRIPT, os.X_OK), "the postgres image executes it (sourcing would leak its set -eu)"


def test_compose_takes_the_master_key_salt_key_and_ui_login_from_the_env_file():
    environment = compose()["services"]["proxy-1"]["environment"]

    for name in ("LITELLM_MASTER_KEY", "LITELLM_SALT_KEY", "UI_PASSWORD"):
        assert environment[name] == f"${{{name}:?set {name} in deploy/.env}}"
    assert environment["STORE_MODEL_IN_DB"] == "False", "costroute's tiers are the config file's model groups"


# -- Kubernetes ------------------------------------------------------------------------------------------------------
def test_kubernetes_migrates_in_an_init_container_of_the_serving_image_before_the_proxy_starts():
    pod = manifest("Deployment", "costroute-proxy")["spec"]["template"]["spec"]
    (migrate,), (proxy,) = pod["initContainers"], pod["containers"]
    migrate_env, proxy_env = env_of(migrate), env_of(proxy)

    assert migrate["image"] == proxy["image"]
    assert "--skip_server_startup" in migrate["args"]
    assert migrate_env["DISABLE_SCHEMA_UPDATE"]["value"] == "false"
    assert proxy_env["DISABLE_SCHEMA_UPDATE"]["value"] == "true"
    assert migrate_env["DATABASE_URL"] == proxy_env["DATABASE_URL"]
    for name, key in [("DATABASE_URL", "litellm-database-url"), ("LITELLM_MASTER_KEY", "litellm-master-key"),
                      ("LITELLM_SALT_KEY", "litellm-salt-key"), ("UI_PASSWORD", "ui-password")]:
        assert proxy_env[name]["valueFrom"]["secretKeyRef"] == {"name": "costroute-secrets", "key": key}


# -- the init script on a real PostgreSQL ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Databases]:
    databases = Databases.named_uniquely(POSTGRES_DSN)
    first = databases.create()
    assert first.returncode == 0, first.stderr
    yield databases
    databases.drop()


def test_each_role_owns_its_database_and_cannot_connect_to_the_others(server: Databases):
    names = [server.ledger, server.litellm]
    with psycopg.connect(POSTGRES_DSN) as admin:
        owners = dict(admin.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY(%s)",
                                    (names,)).fetchall())
        superusers = admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s) AND rolsuper",
                                   (names,)).fetchone()

    assert owners == {server.ledger: server.ledger, server.litellm: server.litellm}
    assert superusers == (0,)
    for role, other in [(server.ledger, server.litellm), (server.litellm, server.ledger)]:
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            psycopg.connect(server.dsn(other, role)).close()


def test_running_the_init_script_again_changes_nothing(server: Databases):
    again = server.create()

    assert again.returncode == 0, again.stderr
    assert "CREATE ROLE" not in again.stdout and "CREATE DATABASE" not in again.stdout


def test_every_litellm_migration_applies_in_order_as_the_litellm_role(server: Databases):
    applied = apply_litellm_migrations(server.litellm_dsn)

    assert applied.returncode == 0, applied.stderr[-2000:]
    with psycopg.connect(server.litellm_dsn) as connection:
        tables = {name for (name,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user")}
    assert len(migration_scripts()) > 200  # LiteLLM's whole history, from its baseline on
    assert {"LiteLLM_SpendLogs", "LiteLLM_VerificationToken", "LiteLLM_TeamTable", "LiteLLM_DailyTeamSpend"} <= tables


def test_the_costroute_role_creates_its_ledger_table_in_its_own_database(server: Databases):
    with psycopg.connect(server.dsn(server.ledger, server.ledger), autocommit=True) as connection:
        for statement in create_statements("public", "costroute_spend"):
            connection.execute(statement)
        owner = connection.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'costroute_spend'").fetchone()

    assert owner == (server.ledger,)
