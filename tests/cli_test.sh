#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: cli_test.sh STRAITD STRAIT — runs the two programs as a user would, on bad input
# above all, and checks what they say and how they exit. Sockets are opened on loopback only:
# one check dials a closed port on 127.0.0.1, and the last ones start a node on [::1] at a port
# the system picks and query it.
set -uo pipefail
straitd=$1
strait=$2
work=$(mktemp -d)
node_pid=
cleanup() {
  if [[ -n $node_pid ]]; then
    kill "$node_pid" 2>/dev/null
    wait "$node_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
checks=0

# check MATCH NAME WANT_STATUS PATTERN COMMAND...: runs COMMAND, checks its exit status (ok,
# fail) and that its combined output matches (MATCH=yes) or does not match (MATCH=no) the
# extended regular expression PATTERN.
check() {
  local match=$1 name=$2 want=$3 pattern=$4
  shift 4
  local output status
  output=$("$@" 2>&1)
  status=$?
  local ok=1
  checks=$((checks + 1))
  if [[ $want == ok && $status -ne 0 ]] || [[ $want == fail && $status -eq 0 ]]; then ok=0; fi
  if grep -Eq -- "$pattern" <<<"$output"; then
    [[ $match == yes ]] || ok=0
  else
    [[ $match == no ]] || ok=0
  fi
  if [[ $ok -eq 1 ]]; then
    echo "ok   $name"
  else
    local wanted="pattern"
    [[ $match == no ]] && wanted="must not match"
    echo "FAIL $name (exit $status, wanted $want, $wanted: $pattern)"
    sed 's/^/       /' <<<"$output"
    failures=$((failures + 1))
  fi
}

# expect NAME WANT_STATUS PATTERN COMMAND...: the output must match PATTERN.
expect() { check yes "$@"; }
# refute NAME WANT_STATUS PATTERN COMMAND...: the output must not match PATTERN.
refute() { check no "$@"; }

mkdir -p "$work/good" "$work/bad"
printf 'serverPort 7100\nfirstEp db1:7100\n' > "$work/good/taos.cfg"
printf 'serverPrt 7100\nserverPort 70000\nenableTLS maybe\nfirstEp [::1\n' > "$work/bad/taos.cfg"
mkdir -p "$work/tls-off"
printf 'enableTLS 0\ntlsCaPath /nonexistent/ca.pem\n' > "$work/tls-off/taos.cfg"

expect "straitd -C prints each value with its source" ok \
  "serverPort +7100 +both +file .*good/taos.cfg:1" "$straitd" -C -c "$work/good"
expect "strait -C prints the client's view" ok "firstEp +db1:7100" "$strait" -C -c "$work/good"
expect "straitd -C names a misspelt key and suggests the right one" fail \
  "taos.cfg:1: serverPrt: .*serverPort" "$straitd" -C -c "$work/bad"
expect "straitd -C lists every problem, not only the first (line 2)" fail \
  "taos.cfg:2: serverPort: '70000' is out of range" "$straitd" -C -c "$work/bad"
expect "straitd -C lists every problem, not only the first (line 4)" fail \
  "taos.cfg:4: firstEp: " "$straitd" -C -c "$work/bad"
expect "--strict labels the problems it refuses on as errors" fail \
  "straitd: error: [^ ]*/bad/taos.cfg:1: serverPrt: unknown key" \
  "$straitd" --strict -C -c "$work/bad"
expect "a bad value names the accepted form" fail "enableTLS: .*maybe" "$straitd" -C -c "$work/bad"
expect "a TLS problem names file and line as the parser does" fail \
  "straitd: error: [^ ]*/tls-off/taos.cfg:2: tlsCaPath: is set but enableTLS is 0" \
  "$straitd" -C -c "$work/tls-off"
expect "a missing -c file is an error" fail "no-such-dir" "$straitd" -c "$work/no-such-dir"
expect "a bad -o value is an error" fail "serverPort" "$straitd" -C -o serverPort=abc
expect "fqdn is checked as a host" fail "command line: fqdn: 'a_b' is not a host" \
  "$straitd" -C -o fqdn=a_b
expect "fqdn with a port is refused, not cut short" fail \
  "fqdn: '\[::1\]:5' has a port; fqdn takes .* put the port in serverPort" \
  "$straitd" -C -o "fqdn=[::1]:5"
expect "straitd checks the endpoints it will dial before it starts" fail \
  "command line: firstEp: '127.0.0.1' has no port, and serverPort is 0" \
  "$straitd" -C -o serverPort=0 -o firstEp=127.0.0.1
expect "serverIPv6 is checked when loaded, not when bound" fail \
  "command line: serverIPv6: 'banana' is a host name, not an IPv6 address" \
  "$straitd" -C -o serverIPv6=banana
expect "serverIPv6 in brackets is stored bare" ok "serverIPv6 +::1 +server +command line" \
  "$straitd" -C -o "serverIPv6=[::1]"
expect "variables of strait's own scripts are not taken for keys, even with --strict" ok \
  "serverPort +7100" env STRAIT_REQUIRE_NETNS=1 STRAIT_DEMO_PORT=7000 STRAIT_NETNS_KEEP=1 \
  "$straitd" --strict -C -c "$work/good"
expect "other unknown STRAIT_ variables are still reported" ok \
  "STRAIT_SERVR_PORT: no key has this name, ignored; did you mean 'STRAIT_SERVER_PORT'" \
  env STRAIT_SERVR_PORT=7000 "$straitd" -C -c "$work/good"
expect "environment variables are read" ok "serverPort +7200 +both +environment STRAIT_SERVER_PORT" \
  env STRAIT_SERVER_PORT=7200 "$straitd" -C -c "$work/good"
expect "an unbalanced bracket in -h is refused" fail "-h: .*\[::1" "$strait" -h "[::1" -s ping
expect "a bad -P is refused" fail "-P '70000' is not a port" "$strait" -h 127.0.0.1 -P 70000 -s ping
expect "a bare IPv6 literal with a port-like last group warns" fail \
  "\[2001:db8::1\]:6030" "$strait" -h 2001:db8::1:6030 -o enableIPv6=0 -s ping
expect "IPv6 with enableIPv6 0 says to set enableIPv6 1" fail "enableIPv6 1" \
  "$strait" -h "[::1]" -o enableIPv6=0 -s ping
expect "an unknown statement is named" fail "unknown statement 'select 1'" \
  "$strait" -h 127.0.0.1 -s "select 1"
expect "no statement prints usage" fail "usage: strait" "$strait" -h 127.0.0.1

expect "--help prints the usage and succeeds" ok "^usage: strait " "$strait" --help
expect "-? prints the usage and succeeds" ok "^usage: strait " "$strait" "-?"
expect "straitd --help prints its usage and succeeds" ok "^usage: straitd " "$straitd" --help
expect "an empty -h is refused, not ignored" fail "-h '' names no host" \
  "$strait" -h "" -P 9 -s ping
expect "an empty -P is refused, not ignored" fail "-P '' is not a port; expected 1 to 65535" \
  "$strait" -h 127.0.0.1 -P "" -s ping
for count in abc 0 -5 2x 100001; do
  expect "-n $count is refused" fail "-n '$count': expected a count from 1 to 100000" \
    "$strait" -h 127.0.0.1 -P 9 -n "$count" -s ping
done
show_usage="expected show variables \[like 'pattern'\] \[on cluster\]"
for statement in "show variables like 'a' 'b'" "show variables like '''" \
  "show variables like" "show variables on" "show variables like 'a' like 'b'"; do
  expect "$statement is refused" fail "$show_usage" "$strait" -h 127.0.0.1 -P 9 -s "$statement"
done

# A closed port on loopback: the error names the address and the cause, promptly.
expect "a node that is not there is a definite error" fail \
  "cannot connect to 127.0.0.1:9: Connection refused" "$strait" -h 127.0.0.1 -P 9 -s ping

# A node on [::1] only, at a port the system picks. It is ready once it has dialled itself.
mkdir -p "$work/node"
printf 'fqdn ::1\nserverIPv6 ::1\nipv6Only 1\nserverPort 0\n' > "$work/node/taos.cfg"
"$straitd" -c "$work/node" --port-file "$work/node/port" > "$work/node/out" 2>&1 &
node_pid=$!
for _ in $(seq 100); do
  grep -q "ready on port" "$work/node/out" && break
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
port=$(cat "$work/node/port" 2>/dev/null)
if grep -q "ready on port" "$work/node/out" && [[ -n $port ]]; then
  node=(-h "[::1]" -P "$port")
  expect "a series of pings" ok "ping 3 from \[::1\]:$port" "$strait" "${node[@]}" -n 3 -s ping
  expect "like 'fqdn' shows that key" ok "fqdn +::1 " \
    "$strait" "${node[@]}" -s "show variables like 'fqdn'"
  expect "keywords in any case, like right after the keyword" ok "serverIPv6 +::1 " \
    "$strait" "${node[@]}" -s "SHOW Variables LIKE'server%' on CLUSTER"
  refute "like '' matches no name" ok "fqdn|serverPort|enableTLS" \
    "$strait" "${node[@]}" -s "show variables like ''"
else
  checks=$((checks + 1))
  failures=$((failures + 1))
  echo "FAIL the node on [::1] did not start within 10 s"
  sed 's/^/       /' "$work/node/out"
fi

echo "$((checks - failures)) passed, $failures failed"
[[ $failures -eq 0 ]]
