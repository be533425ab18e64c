#!/usr/bin/env bash
# PostgreSQL's image runs this once, on an empty data directory (docker-entrypoint-initdb.d),
# as its superuser. It makes the two roles of DESIGN invariant 18 and the database:
# - the owner (FAILOVER_DB_OWNER) owns the database and runs migrations; no superuser;
# - the app role (FAILOVER_DB_APP) is what web and workers log in as; `migrate` with
#   DATABASE_APP_ROLE set grants it the app's rights (audit/roles.py): append-only audit.
# Passwords come from files (compose secrets). Also usable by hand on an existing server:
#   POSTGRES_USER=postgres FAILOVER_DB_OWNER_PASSWORD_FILE=... bash 10-failover-roles.sh
set -euo pipefail
db="${FAILOVER_DB:-failover}"
owner="${FAILOVER_DB_OWNER:-failover_owner}"
app="${FAILOVER_DB_APP:-failover_app}"
owner_password="$(cat "${FAILOVER_DB_OWNER_PASSWORD_FILE:-/run/secrets/db_owner_password}")"
app_password="$(cat "${FAILOVER_DB_APP_PASSWORD_FILE:-/run/secrets/db_app_password}")"
export PGUSER="${POSTGRES_USER:-postgres}"

psql -v ON_ERROR_STOP=1 --dbname postgres \
  -v db="$db" -v owner="$owner" -v app="$app" \
  -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
\connect :"db"
-- Only the owner creates objects; the app role gets its rights from `migrate`.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SQL
echo "failover: database $db, owner $owner, app role $app"
