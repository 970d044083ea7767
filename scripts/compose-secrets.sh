#!/bin/sh
# Secrets for docker-compose.yml, one file each (compose `secrets:`, mounted at /run/secrets/NAME).
#
#   scripts/compose-secrets.sh [--out DIR]
#
# Writes, 32 random bytes as hex each (URL-safe), every file that does not exist yet:
#   postgres_password            the PostgreSQL superuser (provisioning only)
#   database_owner_url           postgres://countersign_owner:…@postgres:5432/countersign (migrations)
#   database_api_url             the API's role          (DATABASE_URL_FILE)
#   database_worker_url          the worker's role       (DATABASE_URL_FILE)
#   temporal_postgres_password   Temporal's own database
#   jwt_secret_key, audit_hmac_key, api_key_hmac_key, codec_operator_token
# The PostgreSQL init script takes each role's name and password from its URL, so a URL is the
# one place a database password lives. Role names: DATABASE_OWNER_ROLE, DATABASE_API_ROLE and
# DATABASE_WORKER_ROLE from this shell's environment (defaults countersign_owner, _api, _worker);
# set the last two in .env as well if you change them (the migrate job grants those roles).
# The Vault tokens (vault_api_token, vault_worker_token, vault_operator_token, vault_backup_token) come from
# scripts/openbao-init.sh. Existing files are kept: delete one to replace it.
#
# Default --out deploy/secrets (gitignored). The directory is 0700; the files 0644, since compose
# bind-mounts them and the containers' own users must read them (scripts/temporal-certs.sh does the same).
set -eu

out=deploy/secrets
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "compose-secrets: --out needs a directory" >&2; exit 2; }; out=$2; shift 2 ;;
    *) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

random() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

umask 077
mkdir -p "$out"
chmod 700 "$out"

# write NAME VALUE: only when NAME does not exist yet.
write() {
  if [ -e "$out/$1" ]; then echo "compose-secrets: kept $out/$1"; return; fi
  printf '%s\n' "$2" > "$out/$1"
  chmod 644 "$out/$1"
  echo "compose-secrets: wrote $out/$1"
}

url() { echo "postgres://$1:$(random)@postgres:5432/countersign"; }

write postgres_password "$(random)"
write database_owner_url "$(url "${DATABASE_OWNER_ROLE:-countersign_owner}")"
write database_api_url "$(url "${DATABASE_API_ROLE:-countersign_api}")"
write database_worker_url "$(url "${DATABASE_WORKER_ROLE:-countersign_worker}")"
write temporal_postgres_password "$(random)"
for name in jwt_secret_key audit_hmac_key api_key_hmac_key codec_operator_token; do
  write "$name" "$(random)"
done
