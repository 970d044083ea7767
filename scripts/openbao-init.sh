#!/bin/sh
# OpenBao for docker-compose.yml: initialise, unseal and provision it (docs/operations.md,
# "Deploying with docker compose").
#
#   scripts/openbao-init.sh [--shares N] [--threshold T]   once, on an empty openbao volume
#   scripts/openbao-init.sh unseal                          after every start of the openbao container
#
# First run: starts the openbao service, initialises it with Shamir key shares (default 5, any
# 3 unseal), writes the unseal keys and the root token to deploy/secrets/openbao-init.json
# (0600) — MOVE THAT FILE OFFLINE and hand one key to each holder — unseals, provisions
# (transit, the four keys, the api/worker/operator policies: scripts/infra/openbao-provision.ts,
# the same as the dev stack), writes deploy/secrets/vault_{api,worker,operator,backup}_token and
# revokes the root token. A later run finds OpenBao initialised and stops, unless the init
# file is still here: then it finishes what a failed run left (unseal, provision).
#
# unseal: each key holder types a share at the hidden prompt of `bao operator unseal` (in the
# container), until the threshold is reached. The apps recover by themselves once unsealed.
#
# Needs docker compose, deploy/openbao-tls/ (scripts/openbao-certs.sh) and the app image
# (the set-up runs as the compose `openbao-setup` job, node dist/scripts/openbao-setup.js).
set -eu

secrets=deploy/secrets
init_file=$secrets/openbao-init.json
setup() { docker compose --profile setup run --rm --no-deps -T openbao-setup "$@"; }

if [ "${1:-}" = unseal ]; then
  docker compose up -d openbao
  # Exit status of `bao status`: 0 unsealed, 2 sealed, 1 an error.
  until docker compose exec -T openbao bao status >/dev/null 2>&1; do
    [ $? -eq 2 ] || { docker compose exec -T openbao bao status >&2 || true; exit 1; }
    docker compose exec openbao bao operator unseal || true
  done
  echo "openbao-init: unsealed"
  exit 0
fi

[ -r deploy/openbao-tls/ca.pem ] || { echo "openbao-init: deploy/openbao-tls/ is missing; run scripts/openbao-certs.sh first" >&2; exit 1; }
umask 077
mkdir -p "$secrets"
chmod 700 "$secrets"

docker compose up -d openbao
# The listener answers within seconds; sealed and uninitialised is what we expect here.
tries=0
until setup status >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ $tries -lt 30 ] || { echo "openbao-init: OpenBao does not answer (docker compose logs openbao)" >&2; exit 1; }
  sleep 2
done

if setup status | grep -q '"initialized":false'; then
  [ ! -e "$init_file" ] || { echo "openbao-init: $init_file exists but OpenBao is not initialised; move the old file away first" >&2; exit 1; }
  setup init "$@" > "$init_file.partial"
  mv "$init_file.partial" "$init_file"
  chmod 600 "$init_file"
  echo "openbao-init: initialised; unseal keys and root token in $init_file"
elif [ ! -e "$init_file" ]; then
  echo "openbao-init: OpenBao is already initialised; to unseal it run: scripts/openbao-init.sh unseal" >&2
  exit 1
fi

setup unseal < "$init_file"
if [ -e "$secrets/vault_api_token" ] && [ -e "$secrets/vault_worker_token" ]; then
  echo "openbao-init: already provisioned ($secrets/vault_*_token exist); move $init_file offline if it is still here"
  exit 0
fi
setup provision --revoke-root < "$init_file" > "$secrets/vault-tokens.partial"
while IFS='=' read -r name value; do
  case "$name" in vault_api_token|vault_worker_token|vault_operator_token|vault_backup_token) ;; *) continue ;; esac
  printf '%s\n' "$value" > "$secrets/$name"
  # Read by the containers' own users through a single-file bind mount (the directory stays 0700).
  chmod 644 "$secrets/$name"
  echo "openbao-init: wrote $secrets/$name"
done < "$secrets/vault-tokens.partial"
rm -f "$secrets/vault-tokens.partial"
chmod 600 "$secrets/vault_operator_token"

cat <<EOF
openbao-init: done. Now:
  1. Move $init_file OFFLINE (it holds every unseal key); give one key to each holder.
  2. docker compose up -d
  After any restart of the openbao container: scripts/openbao-init.sh unseal
EOF
