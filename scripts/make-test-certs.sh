#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: make-test-certs.sh DIR — writes the test certificates into DIR.
#
# Every TLS case the tests need, made with the openssl command line only. The files are made
# afresh in a scratch directory and then moved into DIR, so running the script again (or after
# an interrupted run) always leaves one complete, consistent set. Output is shown only when a
# command fails. EC P-256 keys keep it fast; DIR/seed holds certificates made with exactly the
# commands of the seed's deployment example (RSA 2048, CN only, no subjectAltName).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
work=$(mktemp -d "$out/.make-test-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# Runs a command silently; on failure shows what it printed.
run() {
  local log
  if ! log=$("$@" 2>&1); then
    echo "make-test-certs.sh: failed: $*" >&2
    echo "$log" >&2
    exit 1
  fi
}

# The seed's deployment example, verbatim, in its own directory.
make_seed_certs() {
  mkdir seed
  (
    cd seed
    run openssl req -newkey rsa:2048 -nodes -keyout ca.key -x509 -days 365 -out ca.crt -subj "/CN=MyCA"
    run openssl genrsa -out server.key 2048
    run openssl req -new -key server.key -out server.csr -subj "/CN=localhost"
    run openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 365
    run openssl genrsa -out client.key 2048
    run openssl req -new -key client.key -out client.csr -subj "/CN=Client"
    run openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 365
  )
}

# One configuration for every certificate below, so that nothing depends on the system's
# openssl.cnf. `openssl ca` (with its small database) is used where explicit validity dates are
# needed: `openssl x509 -req` of OpenSSL 3.0 can only count days from now.
write_openssl_cnf() {
  cat >openssl.cnf <<'EOF'
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[name_and_ip_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:node1.strait.test, IP:127.0.0.2

[ip_as_dns_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:127.0.0.1

[ca]
default_ca = test_ca
[test_ca]
dir = .
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = any_name
copy_extensions = none
unique_subject = no
[any_name]
commonName = supplied
EOF
  mkdir ca-db
  : >ca-db/index.txt
  echo 1000 >ca-db/serial
}

# make_ca NAME CN: a self-signed CA certificate NAME.crt and its key NAME.key.
make_ca() {
  run openssl req -config openssl.cnf -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" -extensions ca_ext
}

# make_csr NAME CN: a fresh key NAME.key and a signing request NAME.csr.
make_csr() {
  run openssl req -config openssl.cnf -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
}

# sign NAME CA EXTENSIONS DAYS SERIAL: NAME.crt from NAME.csr, signed by CA.crt and CA.key.
sign() {
  run openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -set_serial "$5" \
    -days "$4" -extfile openssl.cnf -extensions "$3" -out "$1.crt"
}

# sign_dated NAME EXTENSIONS START END: NAME.crt signed by the CA with explicit dates.
sign_dated() {
  run openssl ca -config openssl.cnf -batch -notext -in "$1.csr" -out "$1.crt" \
    -extfile openssl.cnf -extensions "$2" -startdate "$3" -enddate "$4"
}

make_leaf() {
  make_csr "$1" "$2"
  sign "$1" ca "$3" "$4" "$5"
}

make_strait_certs() {
  make_ca ca "strait test CA"
  make_ca other-ca "strait other CA"

  make_leaf server strait-server server_ext 365 1
  make_leaf client strait-client client_ext 365 2
  make_leaf name-and-ip node1.strait.test name_and_ip_ext 365 3
  make_leaf ip-as-dns 127.0.0.1 ip_as_dns_ext 365 4
  make_leaf expiring-soon strait-expiring-soon server_ext 10 5

  make_csr other-ca-signed strait-other-ca-signed
  sign other-ca-signed other-ca server_ext 365 6

  make_csr expired strait-expired
  sign_dated expired server_ext 20200101000000Z 20210101000000Z
  make_csr not-yet-valid strait-not-yet-valid
  sign_dated not-yet-valid server_ext 20900101000000Z 20910101000000Z
}

# Files that are wrong in one way each.
make_broken_files() {
  # A key of its own: it matches no certificate above.
  run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out unrelated.key
  # Encrypted keys in both PEM forms: PKCS#8 and the legacy Proc-Type header.
  run openssl pkey -in client.key -aes256 -passout pass:strait-test -out encrypted-pkcs8.key
  run openssl pkey -in client.key -traditional -aes256 -passout pass:strait-test \
    -out encrypted-legacy.key
  # Not PEM: text, and a certificate in DER.
  printf 'this is not a certificate\n' >not-pem.txt
  run openssl x509 -in server.crt -outform der -out server.der
  # A CA file that holds only a leaf certificate.
  cp server.crt leaf-as-ca.crt
}

write_openssl_cnf
make_seed_certs
make_strait_certs
make_broken_files
rm -rf ca-db openssl.cnf ./*.csr
chmod 600 ./*.key seed/*.key

# Replace the previous set as a whole.
rm -rf "$out/seed"
mv ./* "$out/"
