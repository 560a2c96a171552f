#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: demo.sh BUILD_DIR — the seed's deployment example, end to end, on this machine:
# certificates made with the seed's own openssl commands, a node listening on IPv6 with mutual
# TLS, the client asking it for its TLS variables and pinging it over [::1], a plain client
# refused, and a clean stop. Everything happens under ./demo and on loopback.
set -euo pipefail

build=$(cd "$1" && pwd)
straitd="$build/examples/straitd"
strait="$build/examples/strait"
port=${STRAIT_DEMO_PORT:-6030}
work=$(pwd)/demo
rm -rf "$work"
mkdir -p "$work/certs" "$work/node" "$work/client" "$work/plain-client"

step() { printf '\n== %s\n' "$*"; }

step "1. Certificates, with the commands of the seed's deployment example"
(
  cd "$work/certs"
  openssl req -newkey rsa:2048 -nodes -keyout ca.key -x509 -days 365 -out ca.crt -subj "/CN=MyCA"
  openssl genrsa -out server.key 2048
  openssl req -new -key server.key -out server.csr -subj "/CN=localhost"
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 365
  openssl genrsa -out client.key 2048
  openssl req -new -key client.key -out client.csr -subj "/CN=Client"
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 365
) 2>&1 | sed 's/^/   /'
ls "$work/certs" | sed 's/^/   /'

step "2. Node and client configuration, as the seed shows them"
certs="$work/certs"
cat > "$work/node/taos.cfg" <<CFG
# IPv6 (seed: serverIPv6, firstEp, fqdn, enableIPv6). strait writes IPv6 endpoints in brackets.
serverIPv6   ::
firstEp      [::1]:$port
fqdn         ::1
serverPort   $port
enableIPv6   1
# TLS: all five paths on a node
tlsCliKeyPath  $certs/client.key
tlsCliCertPath $certs/client.crt
tlsSvrKeyPath  $certs/server.key
tlsSvrCertPath $certs/server.crt
tlsCaPath      $certs/ca.crt
enableTLS 1
CFG
cat > "$work/client/taos.cfg" <<CFG
tlsCliKeyPath  $certs/client.key
tlsCliCertPath $certs/client.crt
tlsCaPath      $certs/ca.crt
enableTLS 1
CFG
echo "enableTLS 0" > "$work/plain-client/taos.cfg"
sed 's/^/   node\/taos.cfg:   /' "$work/node/taos.cfg"
sed 's/^/   client\/taos.cfg: /' "$work/client/taos.cfg"

step "3. straitd -c demo/node"
"$straitd" -c "$work/node" > "$work/straitd.out" 2> "$work/straitd.log" &
node_pid=$!
stop_node() { kill "$node_pid" 2>/dev/null || true; }
trap stop_node EXIT
for _ in $(seq 1 100); do
  grep -q "ready on port" "$work/straitd.out" 2>/dev/null && break
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
sed 's/^/   /' "$work/straitd.log"
if ! grep -q "ready on port" "$work/straitd.out"; then
  echo "demo: straitd did not start (see above)" >&2
  exit 1
fi
sed 's/^/   /' "$work/straitd.out"

step "4. strait -h [::1] -P $port -c demo/client -s \"show variables like '%tls%'\""
"$strait" -h "[::1]" -P "$port" -c "$work/client" -s "show variables like '%tls%'" | sed 's/^/   /'

step "5. A series of pings over [::1] with mutual TLS"
"$strait" -h "[::1]" -P "$port" -c "$work/client" -s ping -n 5 | sed 's/^/   /'

step "6. A client without TLS is refused"
if refusal=$("$strait" -h "[::1]" -P "$port" -c "$work/plain-client" -s ping 2>&1); then
  echo "demo: the plain client was not refused" >&2
  exit 1
fi
echo "   $refusal"
grep -q "requires TLS" <<<"$refusal"

step "7. Stopping the node"
kill -TERM "$node_pid"
wait "$node_pid"
trap - EXIT
sed 's/^/   /' "$work/straitd.out" | tail -n 1
echo
echo "demo: done"
