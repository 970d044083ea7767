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

out=deploy/openbao-tls
days=825
server_name=openbao
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
    *) echo "openbao-certs: unknown argument $1" >&2; usage ;;
  esac
done

case "$days" in ''|*[!0-9]*) echo "openbao-certs: --days must be a number" >&2; exit 2 ;; esac
case "$server_name" in ''|*[!A-Za-z0-9.-]*) echo "openbao-certs: --server-name must be a DNS name" >&2; exit 2 ;; esac
command -v openssl >/dev/null 2>&1 || { echo "openbao-certs: openssl is not installed (Debian: apt-get install openssl)" >&2; exit 1; }

if [ -e "$out/ca.key" ] && [ "$force" != yes ]; then
  echo "openbao-certs: $out/ca.key exists; pass --force to replace the CA and the certificate" >&2
  exit 1
fi

umask 077
mkdir -p "$out"
chmod 700 "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

cat > "$work/req.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = DNS:$server_name,DNS:localhost,IP:127.0.0.1$extra_sans
EOF

key "$out/ca.key"
openssl req -new -x509 -config "$work/req.cnf" -extensions ca -key "$out/ca.key" -sha256 -days "$days" \
  -subj "/CN=Countersign OpenBao CA" -out "$out/ca.pem"

key "$out/server.key"
openssl req -new -config "$work/req.cnf" -key "$out/server.key" -subj "/CN=$server_name" -out "$work/server.csr"
openssl x509 -req -in "$work/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -CAserial "$work/ca.srl" \
  -sha256 -days "$days" -extfile "$work/req.cnf" -extensions server -out "$out/server.pem" 2>"$work/x509.log" || { cat "$work/x509.log" >&2; exit 1; }
openssl verify -CAfile "$out/ca.pem" "$out/server.pem" >/dev/null

chmod 644 "$out/ca.pem" "$out/server.pem" "$out/server.key"
chmod 600 "$out/ca.key"
echo "openbao-certs: wrote $out/ (ca, server for $server_name; valid $days days)"
