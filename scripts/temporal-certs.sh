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

out=deploy/temporal-certs
days=825
server_name=temporal
extra_sans=""
force=no

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
    --server-name) [ $# -ge 2 ] || usage; server_name=$2; shift 2 ;;
    --san) [ $# -ge 2 ] || usage; extra_sans="$extra_sans,$2"; shift 2 ;;
    --force) force=yes; shift ;;
    -h|--help) usage ;;
    *) echo "temporal-certs: unknown argument $1" >&2; usage ;;
  esac
done

case "$days" in ''|*[!0-9]*) echo "temporal-certs: --days must be a number" >&2; exit 2 ;; esac
case "$server_name" in ''|*[!A-Za-z0-9.-]*) echo "temporal-certs: --server-name must be a DNS name" >&2; exit 2 ;; esac
command -v openssl >/dev/null 2>&1 || { echo "temporal-certs: openssl is not installed (Debian: apt-get install openssl)" >&2; exit 1; }

if [ -e "$out/ca.key" ] && [ "$force" != yes ]; then
  echo "temporal-certs: $out/ca.key exists; pass --force to replace the CA and every certificate" >&2
  exit 1
fi

umask 077
mkdir -p "$out"
chmod 700 "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# A minimal request configuration of our own: the host's openssl.cnf plays no part.
cat > "$work/req.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

# The CA: may sign certificates, nothing else.
key "$out/ca.key"
openssl req -new -x509 -config "$work/req.cnf" -extensions ca -key "$out/ca.key" -sha256 -days "$days" \
  -subj "/CN=Countersign Temporal CA" -out "$out/ca.pem"

# issue NAME CN EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue() {
  name=$1 cn=$2 eku=$3 sans=${4:-}
  key "$out/$name.key"
  openssl req -new -config "$work/req.cnf" -key "$out/$name.key" -subj "/CN=$cn" -out "$work/$name.csr"
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature"
    echo "extendedKeyUsage = $eku"
    echo "authorityKeyIdentifier = keyid"
    [ -n "$sans" ] && echo "subjectAltName = $sans"
  } > "$work/$name.ext"
  openssl x509 -req -in "$work/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -CAserial "$work/ca.srl" \
    -sha256 -days "$days" -extfile "$work/$name.ext" -out "$out/$name.pem" 2>"$work/x509.log" || { cat "$work/x509.log" >&2; exit 1; }
  openssl verify -CAfile "$out/ca.pem" "$out/$name.pem" >/dev/null
}

# The server's certificate also authenticates it as a client: internode calls and its own CLI.
issue server "$server_name" "serverAuth, clientAuth" "DNS:$server_name,DNS:localhost,IP:127.0.0.1$extra_sans"
issue api countersign-api clientAuth
issue worker countersign-worker clientAuth
issue operator countersign-operator clientAuth

chmod 644 "$out"/*.pem "$out"/server.key "$out"/api.key "$out"/worker.key "$out"/operator.key
chmod 600 "$out/ca.key"
echo "temporal-certs: wrote $out/ (ca, server for $server_name, api, worker, operator; valid $days days)"
