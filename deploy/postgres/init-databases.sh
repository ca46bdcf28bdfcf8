#!/bin/sh
# Two databases on one PostgreSQL server, each owned by a login role of its own that cannot connect to the other:
#   costroute  costroute's spend ledger (COSTROUTE_LEDGER_DSN)
#   litellm    LiteLLM's keys, teams, SpendLogs and Admin UI data (DATABASE_URL; LiteLLM's migrations create
#              its tables, so the role owns the database and needs no superuser right)
# docker compose runs it once, when the postgres volume is first initialised (/docker-entrypoint-initdb.d). On any
# other server run it as a role that may create roles and databases (POSTGRES_USER; libpq's PGHOST, PGPASSWORD):
#   PGHOST=db.example POSTGRES_USER=admin COSTROUTE_DB_PASSWORD=... LITELLM_DB_PASSWORD=... \
#     sh deploy/postgres/init-databases.sh
# Running it again changes nothing that exists (a volume made before this script gets its missing parts).
# COSTROUTE_DB_NAME and LITELLM_DB_NAME rename database and role alike (default: costroute, litellm).
set -eu

: "${COSTROUTE_DB_PASSWORD:?set COSTROUTE_DB_PASSWORD (the costroute role's password)}"
: "${LITELLM_DB_PASSWORD:?set LITELLM_DB_PASSWORD (the litellm role's password)}"

for database in "${COSTROUTE_DB_NAME:-costroute}:$COSTROUTE_DB_PASSWORD" "${LITELLM_DB_NAME:-litellm}:$LITELLM_DB_PASSWORD"; do
  name=${database%%:*}
  password=${database#*:}
  # psql variables (:"name" quotes an identifier, :'password' a literal), never text pasted into SQL.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
done
