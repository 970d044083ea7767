#!/bin/sh
# TLS for OpenBao in docker-compose.yml: a private CA and OpenBao's server certificate.
#
#   scripts/openbao-certs.sh [--out DIR] [--days N] [--server-name NAME] [--san SAN]... [--force]
#
# Makes, with the system's openssl (Debian: apt-get install openssl; nothing is downloaded):
#   ca.pem / ca.key          a private CA for OpenBao only (keep ca.key offline once done)
#   server.pem / server.key  OpenBao's listener, SANs: DNS:NAME, DNS:localhost, IP:127.0.0.1
#                            and every --san (e.g. DNS:vault.example.com)
#
# The API, the worker and the set-up job trust ca.pem for Vault only (VAULT_CACERT); the
# openbao container's own CLI uses it through BAO_CACERT. Defaults: --out deploy/openbao-tls
# (gitignored), --days 825, --server-name openbao (the compose service name). Keys are EC
# P-256. As scripts/temporal-certs.sh: the directory is 0700, the files compose mounts are
# 0644 (the containers' own users read them), ca.key 0600; an existing CA is kept unless --force.
set -eu

tool=openbao-certs
out=deploy/openbao-tls
days=825
server_name=openbao
ca_name="Countersign OpenBao CA"
. "$(dirname "$0")/lib/certs.sh"

parse_args "$@"
start_ca
issue server "$server_name" serverAuth "$(server_sans)"
echo "openbao-certs: wrote $out/ (ca, server for $server_name; valid $days days)"
