#!/bin/sh
# Countersign's PostgreSQL roles (lib/db-roles.ts), for the compose `postgres` service.
#
# The official image runs this once, as the superuser, when its data volume is empty
# (/docker-entrypoint-initdb.d). It is idempotent: for a volume made before the role split run
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-countersign-roles.sh
# (and, once, hand the old tables to the owner: see README, "Database roles").
#
#   DATABASE_OWNER_ROLE  (countersign_owner)   owns the database and every object; runs migrations
#   DATABASE_API_ROLE    (countersign_api)     the API's login role
#   DATABASE_WORKER_ROLE (countersign_worker)  the worker's login role
# with POSTGRES_OWNER_PASSWORD, POSTGRES_API_PASSWORD, POSTGRES_WORKER_PASSWORD (required; no
# defaults). None of them may create roles or databases, replicate or bypass row security.
# The grants themselves are applied by the migrations (the compose `migrate` service).
set -eu

: "${POSTGRES_OWNER_PASSWORD:?set POSTGRES_OWNER_PASSWORD}"
: "${POSTGRES_API_PASSWORD:?set POSTGRES_API_PASSWORD}"
: "${POSTGRES_WORKER_PASSWORD:?set POSTGRES_WORKER_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner="${DATABASE_OWNER_ROLE:-countersign_owner}" -v owner_password="$POSTGRES_OWNER_PASSWORD" \
  -v api="${DATABASE_API_ROLE:-countersign_api}" -v api_password="$POSTGRES_API_PASSWORD" \
  -v worker="${DATABASE_WORKER_ROLE:-countersign_worker}" -v worker_password="$POSTGRES_WORKER_PASSWORD" \
  -v database="${POSTGRES_DB:-countersign}" <<'SQL'
SELECT format('CREATE ROLE %I', r) FROM unnest(ARRAY[:'owner', :'api', :'worker']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', r, p)
  FROM (VALUES (:'owner', :'owner_password'), (:'api', :'api_password'), (:'worker', :'worker_password')) AS v(r, p) \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'database', :'owner') \gexec
SQL
