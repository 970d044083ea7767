# Shared by scripts/temporal-certs.sh and scripts/openbao-certs.sh (sourced, not run): a private
# CA and the certificates it signs, with the system's openssl. The sourcing script sets `tool`,
# `out`, `days`, `server_name` and `ca_name`, then calls `parse_args "$@"`, `start_ca` and
# `issue` for each certificate, and `finish`.
extra_sans=""
force=no

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
      --days) [ $# -ge 2 ] || usage; days=$2; shift 2 ;;
      --server-name) [ $# -ge 2 ] || usage; server_name=$2; shift 2 ;;
      --san) [ $# -ge 2 ] || usage; extra_sans="$extra_sans,$2"; shift 2 ;;
      --force) force=yes; shift ;;
      -h|--help) usage ;;
      *) echo "$tool: unknown argument $1" >&2; usage ;;
    esac
  done
  case "$days" in ''|*[!0-9]*) echo "$tool: --days must be a number" >&2; exit 2 ;; esac
  case "$server_name" in ''|*[!A-Za-z0-9.-]*) echo "$tool: --server-name must be a DNS name" >&2; exit 2 ;; esac
  command -v openssl >/dev/null 2>&1 || { echo "$tool: openssl is not installed (Debian: apt-get install openssl)" >&2; exit 1; }
}

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# The CA in $out (0700): may sign certificates, nothing else. Refuses to replace one unless --force.
start_ca() {
  if [ -e "$out/ca.key" ] && [ "$force" != yes ]; then
    echo "$tool: $out/ca.key exists; pass --force to replace the CA and every certificate" >&2
    exit 1
  fi
  umask 077
  mkdir -p "$out"
  chmod 700 "$out"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # A minimal request configuration of our own: the host's openssl.cnf plays no part.
  cat > "$work/req.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  key "$out/ca.key"
  openssl req -new -x509 -config "$work/req.cnf" -extensions ca -key "$out/ca.key" -sha256 -days "$days" \
    -subj "/CN=$ca_name" -out "$out/ca.pem"
  chmod 644 "$out/ca.pem"
  chmod 600 "$out/ca.key"
}

# issue NAME CN EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES] → $out/NAME.pem and NAME.key, both 0644 so
# that the containers' own users (not root) can read the single files compose mounts into them.
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
  chmod 644 "$out/$name.pem" "$out/$name.key"
}

# The SANs of a server certificate: its compose name, loopback, and every --san.
server_sans() { echo "DNS:$server_name,DNS:localhost,IP:127.0.0.1$extra_sans"; }
