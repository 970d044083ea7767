#!/bin/sh
# Countersign's PostgreSQL roles (lib/db-roles.ts), for the compose `postgres` service.
#
# The official image runs this once, as the superuser, when its data volume is empty
# (/docker-entrypoint-initdb.d). It is idempotent: after replacing a URL file, or for a volume
# made before the role split, run
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-countersign-roles.sh
# (and, once, hand the old tables to the owner: see README, "Database roles").
#
# Each role's name and password come from the URL its process connects with (compose secrets,
# made by scripts/compose-secrets.sh), so a password is written in one place only:
#   DATABASE_OWNER_URL_FILE   owns the database and every object; runs migrations
#   DATABASE_API_URL_FILE     the API's login role
#   DATABASE_WORKER_URL_FILE  the worker's login role
# postgres://ROLE:PASSWORD@host:port/database, PASSWORD URL-safe (no percent-decoding here).
# None of the roles may create roles or databases, replicate or bypass row security. The grants
# themselves are applied by the migrations (the compose `migrate` service).
set -eu

# role_of / password_of FILE: the user and password parts of the URL in FILE.
role_of() { sed -n 's#^postgres\(ql\)\{0,1\}://\([^:@/]*\):.*#\2#p' "$1"; }
password_of() { sed -n 's#^postgres\(ql\)\{0,1\}://[^:@/]*:\([^@]*\)@.*#\2#p' "$1"; }

for var in DATABASE_OWNER_URL_FILE DATABASE_API_URL_FILE DATABASE_WORKER_URL_FILE; do
  eval "file=\${$var:-}"
  [ -n "$file" ] && [ -r "$file" ] || { echo "10-countersign-roles: $var must name a readable file" >&2; exit 1; }
  [ -n "$(role_of "$file")" ] && [ -n "$(password_of "$file")" ] || { echo "10-countersign-roles: $file is not postgres://role:password@host/db" >&2; exit 1; }
done

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner="$(role_of "$DATABASE_OWNER_URL_FILE")" -v owner_password="$(password_of "$DATABASE_OWNER_URL_FILE")" \
  -v api="$(role_of "$DATABASE_API_URL_FILE")" -v api_password="$(password_of "$DATABASE_API_URL_FILE")" \
  -v worker="$(role_of "$DATABASE_WORKER_URL_FILE")" -v worker_password="$(password_of "$DATABASE_WORKER_URL_FILE")" \
  -v database="${POSTGRES_DB:-countersign}" <<'SQL'
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY[:'owner', :'api', :'worker']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', r, p)
  FROM (VALUES (:'owner', :'owner_password'), (:'api', :'api_password'), (:'worker', :'worker_password')) AS v(r, p) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'database', :'owner') \gexec
SQL
