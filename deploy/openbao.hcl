# OpenBao for docker-compose: file storage, TLS terminated in front of it.
storage "file" {
  path = "/openbao/data"
}
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
api_addr = "http://openbao:8200"
disable_mlock = true
ui = false
