# OpenBao for docker-compose.yml. Integrated (raft) storage: OpenBao 2.x has no other
# persistent backend. /openbao/file is the image's own data volume (owned by its user).
storage "raft" {
  path    = "/openbao/file"
  node_id = "openbao-1"
}

# TLS on the API port: the certificate and key come from scripts/openbao-certs.sh
# (deploy/openbao-tls/, gitignored, mounted read-only). Clients trust its CA through
# VAULT_CACERT (the apps) or BAO_CACERT (the bao CLI in the container).
listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/openbao/tls/server.pem"
  tls_key_file    = "/openbao/tls/server.key"
  tls_min_version = "tls12"
}

api_addr     = "https://openbao:8200"
cluster_addr = "https://openbao:8201"
# Raft keeps its data in memory-mapped files; mlock would pin all of it (the documented advice for raft).
disable_mlock = true
ui            = false
