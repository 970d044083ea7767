#!/bin/sh
# Certificates for mTLS between Temporal and its clients (docker-compose.yml).
#
#   scripts/temporal-certs.sh [--out DIR] [--days N] [--server-name NAME] [--san SAN]... [--force]
#
# Makes, with the system's openssl (Debian: apt-get install openssl; nothing is downloaded):
#   ca.pem / ca.key             a private CA, used for nothing else (keep ca.key offline once done)
#   server.pem / server.key     the Temporal server (frontend and internode), SANs: DNS:NAME,
#                               DNS:localhost, IP:127.0.0.1 and every --san (e.g. DNS:temporal.example.com)
#   api.pem / api.key           the API's client certificate      (CN countersign-api)
#   worker.pem / worker.key     the worker's client certificate   (CN countersign-worker)
#   operator.pem / operator.key the Temporal UI, admin tools and the server's own CLI (CN countersign-operator)
#
# The server then accepts only clients with a certificate this CA signed: reaching port 7233 is
# no longer enough to start, signal or update a workflow or to read a history. The apps use
# TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_NAME (= NAME).
#
# Defaults: --out deploy/temporal-certs (gitignored), --days 825, --server-name temporal (the
# compose service name). Keys are EC P-256. The directory is 0700 and only the user who ran this
# can enter it; the key files inside are 0644 so that the containers' own users (not root) can
# read the single files compose mounts into them. Refuses to overwrite an existing CA unless
# --force (a new CA invalidates every certificate).
set -eu

tool=temporal-certs
out=deploy/temporal-certs
days=825
server_name=temporal
ca_name="Countersign Temporal CA"
. "$(dirname "$0")/lib/certs.sh"

parse_args "$@"
start_ca
# The server's certificate also authenticates it as a client: internode calls and its own CLI.
issue server "$server_name" "serverAuth, clientAuth" "$(server_sans)"
issue api countersign-api clientAuth
issue worker countersign-worker clientAuth
issue operator countersign-operator clientAuth
echo "temporal-certs: wrote $out/ (ca, server for $server_name, api, worker, operator; valid $days days)"
