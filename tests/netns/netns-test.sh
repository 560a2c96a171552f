#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: netns-test.sh SCENARIO STRAITD STRAIT
#
# Environment tests of endpoints, name resolution and dual stack. Each run builds two hosts as
# network namespaces joined by a veth pair, a node host running straitd and a client host
# running strait, and checks what the programs say. SCENARIO is one of:
#   ipv6_only       no IPv4 address anywhere; the client dials [IPv6] and an AAAA-only name
#   dual_stack      a node on [::] answers over IPv4 and IPv6; ipv6Only 1 refuses IPv4
#   ipv4_only       IPv6 disabled by sysctl; the node falls back to 0.0.0.0, A-only names work
#   dns             AAAA-only, A-only and dual names from dnsmasq, under both family policies
#   happy_eyeballs  a name whose IPv6 path drops SYNs connects over IPv4 within the delay
#   failover        firstEp down, secondEp up: the client reaches the second
#
# Needs root and `ip netns`. Without them it exits 77 (skipped) with the reason, unless
# STRAIT_REQUIRE_NETNS=1, when it fails instead. Every name it makes (namespaces, veths,
# /etc/netns entries, the nftables table) and every address carries this run's PID, so runs
# may overlap; all of it is removed on exit, whatever the outcome. Traffic goes only between
# the namespaces of this run.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 SCENARIO STRAITD STRAIT" >&2
  exit 2
fi
scenario=$1
straitd=$2
strait=$3

run_id=$$
node_ns=strait-$scenario-$run_id-node
client_ns=strait-$scenario-$run_id-client
node_veth=sn$run_id
client_veth=sc$run_id
port=6030  # inside the namespaces only, where nothing else listens

# Addresses exist only inside this run's namespaces. A /28 of 10/8 and a /64 of fd00::/8 per
# PID keep even the addresses of overlapping runs apart.
slot=$((run_id % 1048576))
v4_prefix=10.$((slot >> 12)).$(((slot >> 4) & 255))
v4_base=$(((slot & 15) << 4))
node4=$v4_prefix.$((v4_base + 1))
client4=$v4_prefix.$((v4_base + 2))
absent4=$v4_prefix.$((v4_base + 3))  # in the subnet, held by no host
v6_prefix=$(printf 'fd00:5354:%x:%x' $((run_id >> 16)) $((run_id & 0xffff)))
node6=$v6_prefix::1
client6=$v6_prefix::2

work=$(mktemp -d "${TMPDIR:-/tmp}/strait-netns-$scenario-$run_id.XXXXXX")
namespaces=()
started_pids=()
failures=0

# --- Reporting --------------------------------------------------------------------------------

say() { printf 'netns %s: %s\n' "$scenario" "$*"; }

pass() { say "ok: $*"; }

# A failed check is counted and the scenario goes on, so that one run shows every difference.
problem() {
  say "FAIL: $*" >&2
  failures=$((failures + 1))
}

show_logs() {
  local file
  for file in "$work"/*.out "$work"/*.log; do
    [[ -f "$file" ]] || continue
    printf '\n----- %s\n' "${file#"$work"/}" >&2
    head -c 20000 "$file" >&2
  done
}

# A step the rest depends on failed: stop here, with every log.
fatal() {
  say "FAIL: $*" >&2
  show_logs
  exit 1
}

skip() {
  if [[ "${STRAIT_REQUIRE_NETNS:-0}" == 1 ]]; then
    fatal "cannot run: $*; STRAIT_REQUIRE_NETNS=1, so this is a failure, not a skip"
  fi
  say "SKIPPED: $*"
  exit 77
}

# --- Teardown ---------------------------------------------------------------------------------

# Waits up to SECONDS for PID to end; true when it did.
wait_gone() {
  local pid=$1 seconds=$2 i
  for ((i = 0; i < seconds * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

stop_process() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_gone "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$? pid ns
  trap - EXIT
  for pid in "${started_pids[@]}"; do
    stop_process "$pid"
  done
  for ns in "${namespaces[@]}"; do
    # Anything still inside is this run's own: the namespace was made by it.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns delete "$ns" 2>/dev/null || say "could not delete namespace $ns" >&2
    rm -rf "/etc/netns/$ns"
  done
  if [[ "${STRAIT_NETNS_KEEP:-0}" == 1 ]]; then
    say "kept $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Preconditions ----------------------------------------------------------------------------

check_programs() {
  [[ -x "$straitd" ]] || fatal "straitd is not an executable file: $straitd"
  [[ -x "$strait" ]] || fatal "strait is not an executable file: $strait"
  [[ $(id -u) -eq 0 ]] || skip "network namespaces need root (running as uid $(id -u))"
  command -v ip >/dev/null || skip "the ip command (iproute2) is not installed"
}

need_command() {
  command -v "$1" >/dev/null || skip "$1 is not installed ($2); scripts/setup.sh installs it"
}

# --- Hosts ------------------------------------------------------------------------------------

add_namespace() {
  local ns=$1 reason
  if ! reason=$(ip netns add "$ns" 2>&1); then
    skip "ip netns add failed: $reason"
  fi
  namespaces+=("$ns")
  ip -n "$ns" link set lo up
}

in_ns() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

# Bounded wait for both ends of the veth to carry traffic.
wait_link_up() {
  local ns=$1 dev=$2 i
  for ((i = 0; i < 50; i++)); do
    ip -n "$ns" link show dev "$dev" | grep -q LOWER_UP && return 0
    sleep 0.1
  done
  fatal "$dev in $ns did not come up within 5 s: $(ip -n "$ns" link show dev "$dev")"
}

# make_hosts ipv6|dual|ipv4: the node and client namespaces, joined by a veth pair with the
# addresses of the family mode. `ipv6` removes 127.0.0.1 from lo too; `ipv4` disables IPv6 in
# the kernel of both namespaces before the veth exists, so that it never gets an IPv6 address.
make_hosts() {
  local mode=$1 ns
  add_namespace "$node_ns"
  add_namespace "$client_ns"
  for ns in "$node_ns" "$client_ns"; do
    if [[ $mode == ipv4 ]]; then
      disable_ipv6 "$ns"
    fi
    if [[ $mode == ipv6 ]]; then
      ip -n "$ns" addr del 127.0.0.1/8 dev lo
    fi
  done

  ip -n "$node_ns" link add "$node_veth" type veth peer name "$client_veth" netns "$client_ns"
  add_addresses "$node_ns" "$node_veth" "$node4" "$node6" "$mode"
  add_addresses "$client_ns" "$client_veth" "$client4" "$client6" "$mode"
  wait_link_up "$node_ns" "$node_veth"
  wait_link_up "$client_ns" "$client_veth"
  say "hosts ($mode): $node_ns and $client_ns"
}

# What `sysctl -w net.ipv6.conf.{all,default}.disable_ipv6=1` does, without needing procps:
# /proc/sys/net shows the network namespace of the process that opens it.
disable_ipv6() {
  in_ns "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 &&
    echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
}

add_addresses() {
  local ns=$1 dev=$2 v4=$3 v6=$4 mode=$5
  # nodad: the address is usable at once rather than after duplicate address detection.
  if [[ $mode != ipv4 ]]; then
    ip -n "$ns" addr add "$v6/64" dev "$dev" nodad
  fi
  if [[ $mode != ipv6 ]]; then
    ip -n "$ns" addr add "$v4/28" dev "$dev"
  fi
  ip -n "$ns" link set "$dev" up
}

# --- Programs ---------------------------------------------------------------------------------

# Waits up to SECONDS for FILE to hold TEXT while PID lives.
wait_for_text() {
  local file=$1 text=$2 pid=$3 seconds=$4 i
  for ((i = 0; i < seconds * 10; i++)); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -qF -- "$text" "$file" 2>/dev/null
}

# write_config DIR [KEY VALUE]...: a taos.cfg with serverPort and the keys given.
write_config() {
  local dir=$1
  shift
  mkdir -p "$dir"
  {
    echo "serverPort $port"
    while (($# >= 2)); do
      echo "$1 $2"
      shift 2
    done
  } >"$dir/taos.cfg"
}

# start_node NAME [KEY VALUE]...: straitd in the node namespace with those keys; its stdout is
# NAME.out, its log NAME.log. Returns once it says it is ready. `ip netns exec` execs the
# program, so $! is straitd itself (a shell function run with & would be a subshell).
start_node() {
  local name=$1
  shift
  write_config "$work/$name" "$@"
  ip netns exec "$node_ns" "$straitd" -c "$work/$name" >"$work/$name.out" 2>"$work/$name.log" &
  node_pid=$!
  started_pids+=("$node_pid")
  wait_for_text "$work/$name.out" "straitd ready on port $port" "$node_pid" 15 ||
    fatal "straitd ($name) did not become ready within 15 s"
  say "straitd ($name) ready, pid $node_pid"
}

stop_node() {
  local name=$1
  kill -TERM "$node_pid"
  wait_gone "$node_pid" 10 || problem "straitd ($name) did not stop within 10 s of SIGTERM"
  grep -qF "straitd stopped" "$work/$name.out" || problem "straitd ($name) did not stop cleanly"
}

# start_dns LISTEN_ADDRESS DNSMASQ_OPTIONS...: dnsmasq on port 53 of the node namespace,
# answering only for strait.test, from the records given; the client namespace's resolver is
# pointed at it through /etc/netns, which `ip netns exec` mounts over /etc.
start_dns() {
  local listen=$1
  shift
  need_command dnsmasq "package dnsmasq-base"
  ip netns exec "$node_ns" dnsmasq --keep-in-foreground --conf-file=/dev/null \
    --no-resolv --no-hosts --local=/strait.test/ "$@" \
    --bind-interfaces --listen-address="$listen" --port=53 --pid-file="$work/dnsmasq.pid" \
    --log-queries --log-facility="$work/dnsmasq.log" &
  dns_pid=$!
  started_pids+=("$dns_pid")
  wait_for_text "$work/dnsmasq.log" "started, version" "$dns_pid" 10 ||
    fatal "dnsmasq did not start within 10 s"
  [[ $(cat "$work/dnsmasq.pid" 2>/dev/null) == "$dns_pid" ]] ||
    fatal "dnsmasq's pid file does not name the process started ($dns_pid)"

  mkdir -p "/etc/netns/$client_ns"
  printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$listen" \
    >"/etc/netns/$client_ns/resolv.conf"
  say "dnsmasq on $listen, pid $dns_pid"
}

# run_client NAME STRAIT_ARGS...: strait in the client namespace with the client
# configuration; output (stdout and stderr) in NAME.out, exit status in client_status,
# duration in client_ms.
run_client() {
  local name=$1 started ended
  shift
  started=${EPOCHREALTIME/./}
  client_status=0
  timeout 60 ip netns exec "$client_ns" "$strait" -c "$work/client" "$@" \
    >"$work/$name.out" 2>&1 || client_status=$?
  ended=${EPOCHREALTIME/./}
  client_ms=$(((ended - started) / 1000))
}

# --- Checks -----------------------------------------------------------------------------------

# expect_success NAME WHAT: the last client run succeeded.
expect_success() {
  if [[ $client_status -eq 0 ]]; then
    pass "$2 (${client_ms} ms)"
  else
    problem "$2: strait exited with $client_status after ${client_ms} ms: $(cat "$work/$1.out")"
  fi
}

expect_failure() {
  if [[ $client_status -ne 0 && $client_status -ne 124 ]]; then
    pass "$2 (${client_ms} ms)"
  else
    problem "$2: strait exited with $client_status after ${client_ms} ms: $(cat "$work/$1.out")"
  fi
}

# expect_text FILE TEXT WHAT: FILE (in the work directory) holds TEXT literally.
expect_text() {
  if grep -qF -- "$2" "$work/$1"; then
    pass "$3"
  else
    problem "$3: $1 does not contain '$2'"
  fi
}

# expect_line_end FILE TEXT WHAT: a line of FILE ends with TEXT, so that nothing follows it.
expect_line_end() {
  if awk -v text="$2" 'substr($0, length($0) - length(text) + 1) == text { found = 1 }
                       END { exit !found }' "$work/$1"; then
    pass "$3"
  else
    problem "$3: no line of $1 ends with '$2'"
  fi
}

expect_no_text() {
  if ! grep -qF -- "$2" "$work/$1"; then
    pass "$3"
  else
    problem "$3: $1 contains '$2': $(grep -F -- "$2" "$work/$1")"
  fi
}

expect_faster_than() {
  if ((client_ms < $1)); then
    pass "$2: ${client_ms} ms < $1 ms"
  else
    problem "$2: took ${client_ms} ms, expected under $1 ms"
  fi
}

finish() {
  if ((failures > 0)); then
    say "$failures check(s) failed; logs follow" >&2
    show_logs
    exit 1
  fi
  say "passed"
}

# --- Scenarios --------------------------------------------------------------------------------

scenario_ipv6_only() {
  make_hosts ipv6
  local ns
  for ns in "$node_ns" "$client_ns"; do
    [[ -z $(ip -n "$ns" -4 -o addr show) ]] || fatal "$ns has an IPv4 address"
  done
  pass "no IPv4 address in either namespace, lo included"

  start_dns "$node6" --host-record="aaaa-only.strait.test,$node6"
  write_config "$work/client"
  start_node node fqdn "$node6"
  expect_text node.log "listening on [::]:$port (IPv6" "the node listens on [::]"

  run_client literal -h "[$node6]" -P "$port" -s ping -n 3
  expect_success literal "ping [$node6]"
  expect_text literal.out "ping 3 from [$node6]:$port" "three pings answered over IPv6"
  expect_text node.log "[$client6]:" "the node saw the client's IPv6 address"

  run_client name -v -h aaaa-only.strait.test -P "$port" -s "show variables like '%tls%'"
  expect_success name "show variables through the AAAA-only name"
  expect_text name.out "enableTLS" "the node listed its TLS variables"
  expect_text name.out "aaaa-only.strait.test:$port via [$node6]:$port: connected" \
    "the name resolved to the node's IPv6 address"
  expect_text dnsmasq.log "query[AAAA] aaaa-only.strait.test from $client6" \
    "the lookup went to dnsmasq over IPv6"
  stop_node node
}

scenario_dual_stack() {
  make_hosts dual
  write_config "$work/client"
  start_node node fqdn "$node6"
  expect_text node.log \
    "listening on [::]:$port (IPv6, dual stack: IPv4 clients accepted, IPV6_V6ONLY=0)" \
    "the bind report says dual stack"

  run_client over4 -h "$node4" -P "$port" -s ping -n 2
  expect_success over4 "ping $node4"
  expect_text over4.out "ping 2 from $node4:$port" "pings answered over IPv4"
  expect_text node.log "[::ffff:$client4]:" "the node saw the IPv4 client as IPv4-mapped"

  run_client over6 -h "[$node6]" -P "$port" -s "show variables like '%tls%'"
  expect_success over6 "show variables from [$node6]"
  expect_text over6.out "enableTLS" "the node listed its TLS variables over IPv6"
  expect_text node.log "[$client6]:" "the node saw the client's IPv6 address"
  stop_node node

  # The control: the same node with ipv6Only 1 must refuse IPv4, so the dual-stack socket
  # above really was what answered the IPv4 client.
  start_node v6only fqdn "$node6" ipv6Only 1
  expect_text v6only.log "listening on [::]:$port (IPv6 only, IPV6_V6ONLY=1)" \
    "the bind report says IPv6 only under ipv6Only 1"
  run_client refused4 -h "$node4" -P "$port" -s ping
  expect_failure refused4 "ipv6Only 1 refuses an IPv4 client"
  expect_text refused4.out "Connection refused" "the refusal names its cause"
  run_client still6 -h "[$node6]" -P "$port" -s ping
  expect_success still6 "ipv6Only 1 still answers IPv6"
  stop_node v6only
}

scenario_ipv4_only() {
  make_hosts ipv4
  local ns
  for ns in "$node_ns" "$client_ns"; do
    [[ -z $(ip -n "$ns" -6 -o addr show) ]] || fatal "$ns has an IPv6 address"
  done
  pass "no IPv6 address in either namespace (disable_ipv6=1)"

  start_dns "$node4" --host-record="a-only.strait.test,$node4" \
    --host-record="dual.strait.test,$node4,$node6"
  write_config "$work/client"
  start_node node fqdn "$node4"
  expect_text node.log "IPv6 is not available on this host" \
    "the default configuration warns that IPv6 is unavailable"
  expect_text node.log "listening on 0.0.0.0:$port (IPv4)" "the node fell back to 0.0.0.0"
  expect_no_text node.log "listening on [::]" "the node opened no IPv6 socket"

  run_client literal -h "$node4" -P "$port" -s ping
  expect_success literal "ping $node4"
  run_client name -v -h a-only.strait.test -P "$port" -s ping -n 2
  expect_success name "ping the A-only name"
  expect_text name.out "a-only.strait.test:$port via $node4:$port: connected" \
    "the A-only name connected over IPv4"

  # An unusable family costs at most one failed attempt.
  run_client dual -v -h dual.strait.test -P "$port" -s ping
  expect_success dual "ping a name with both records from an IPv4-only host"
  expect_faster_than 3000 "the IPv6 address of a dual name does not hold up an IPv4-only host"
  stop_node node
}

scenario_dns() {
  make_hosts dual
  start_dns "$node4" --host-record="aaaa-only.strait.test,$node6" \
    --host-record="a-only.strait.test,$node4" --host-record="dual.strait.test,$node4,$node6"
  write_config "$work/client"
  start_node node fqdn "$node6"

  check_name aaaa-only "[$node6]:$port" "[$node6]:$port"
  check_name a-only "$node4:$port" "$node4:$port"
  check_name dual "[$node6]:$port, $node4:$port" "[$node6]:$port"

  run_client dual4 -v -o enableIPv6=0 -h dual.strait.test -P "$port" -s ping
  expect_success dual4 "enableIPv6 0: ping the dual name"
  expect_line_end dual4.out "resolved 'dual.strait.test:$port' to $node4:$port" \
    "enableIPv6 0 asks for IPv4 only"
  run_client aaaa4 -o enableIPv6=0 -h aaaa-only.strait.test -P "$port" -s ping
  expect_failure aaaa4 "enableIPv6 0: the AAAA-only name has no usable address"
  expect_text aaaa4.out "asked for IPv4 only, as enableIPv6 is 0" "the failure says why"

  run_client missing -o resolveTimeoutMs=3000 -h missing.strait.test -P "$port" -s ping
  expect_failure missing "a name dnsmasq does not know"
  expect_text missing.out "cannot resolve 'missing.strait.test:$port'" \
    "the failure names the host and port"
  expect_faster_than 5000 "a name that does not exist fails within resolveTimeoutMs"
  stop_node node
}

# check_name NAME RESOLVED CONNECTED: the client resolves NAME.strait.test through dnsmasq to
# the RESOLVED list, in connection order, and connects via CONNECTED.
check_name() {
  local name=$1 resolved=$2 connected=$3 host=$1.strait.test
  run_client "$name" -v -h "$host" -P "$port" -s ping
  expect_success "$name" "ping $host"
  expect_line_end "$name.out" "resolved '$host:$port' to $resolved" \
    "$host resolves to $resolved"
  expect_text "$name.out" "$host:$port via $connected: connected" "$host connects via $connected"
  expect_text dnsmasq.log "query[AAAA] $host from $client4" "dnsmasq was asked for $host"
}

scenario_happy_eyeballs() {
  need_command nft "package nftables"
  make_hosts dual
  drop_ipv6_syns
  start_dns "$node4" --host-record="broken-v6.strait.test,$node4,$node6"
  write_config "$work/client" connectTimeoutMs 10000 happyEyeballsDelayMs 250
  # The node's own link goes over IPv4: its IPv6 address drops SYNs even from itself.
  start_node node fqdn "$node4"

  # The control: the IPv6 address alone does not answer, so the race below has a loser.
  run_client blocked -o connectTimeoutMs=1000 -h "[$node6]" -P "$port" -s ping
  expect_failure blocked "the IPv6 address alone does not answer"
  expect_text blocked.out "answered within 1000 ms (connectTimeoutMs)" \
    "the IPv6 address times out rather than being refused"

  check_race broken-v6.strait.test
  stop_node node
}

# check_race HOST: HOST resolves to the dropping IPv6 address first and the working IPv4 one
# second; the client must try IPv6, then connect over IPv4 after happyEyeballsDelayMs.
check_race() {
  local host=$1 dropped_before dropped_after
  dropped_before=$(dropped_syns)
  run_client race -v -h "$host" -P "$port" -s ping
  dropped_after=$(dropped_syns)

  expect_success race "ping $host, whose IPv6 path drops SYNs"
  expect_faster_than 3000 "Happy Eyeballs connected long before connectTimeoutMs (10000 ms)"
  if ((client_ms >= 250)); then
    pass "the IPv4 attempt waited for happyEyeballsDelayMs (${client_ms} ms >= 250 ms)"
  else
    problem "the call took ${client_ms} ms, under happyEyeballsDelayMs: IPv6 was not tried first"
  fi
  if ((dropped_after > dropped_before)); then
    pass "the IPv6 attempt sent SYNs that were dropped ($((dropped_after - dropped_before)))"
  else
    problem "no SYN to [$node6]:$port was dropped during the race: IPv6 was not tried"
  fi

  expect_line_end race.out "resolved '$host:$port' to [$node6]:$port, $node4:$port" \
    "the IPv6 address comes first in connection order"
  expect_text race.out "$host:$port via [$node6]:$port" "the client log shows the IPv6 attempt"
  expect_text race.out "$host:$port via $node4:$port: connected" \
    "the client log shows the IPv4 success"
}

# The node's IPv6 address silently drops connection attempts to the node's port, as a broken
# IPv6 path does; its IPv4 address and DNS stay untouched.
drop_ipv6_syns() {
  in_ns "$node_ns" nft -f - <<NFT
table inet strait_$run_id {
  chain input {
    type filter hook input priority 0; policy accept;
    ip6 daddr $node6 tcp dport $port counter drop
  }
}
NFT
}

dropped_syns() {
  in_ns "$node_ns" nft list chain inet "strait_$run_id" input |
    sed -n 's/.*counter packets \([0-9]*\) .*/\1/p'
}

scenario_failover() {
  make_hosts dual
  start_node node fqdn "$node6"

  # firstEp is the node's IPv4 address at a port where nothing listens: refused at once.
  write_config "$work/client" firstEp "$node4:$((port + 1))" secondEp "[$node6]:$port"
  run_client refused -v -s ping -n 2
  expect_success refused "firstEp refused, secondEp up"
  expect_text refused.out "ping 2 from [$node6]:$port" "the second endpoint answered"
  expect_text refused.out "via $node4:$((port + 1)): Connection refused" \
    "the log shows firstEp refused"

  # firstEp is an address no host holds: attempts there get no answer at all.
  write_config "$work/client" firstEp "$absent4:$port" secondEp "[$node6]:$port" \
    connectTimeoutMs 1000
  run_client silent -v -s ping
  expect_success silent "firstEp silent, secondEp up"
  expect_text silent.out "ping 1 from [$node6]:$port" "the second endpoint answered"
  expect_faster_than 5000 "a silent firstEp costs about connectTimeoutMs (1000 ms)"
  stop_node node
}

# --- Main -------------------------------------------------------------------------------------

case $scenario in
  ipv6_only | dual_stack | ipv4_only | dns | happy_eyeballs | failover) ;;
  *) fatal "unknown scenario '$scenario'" ;;
esac
check_programs
say "run $run_id: node $node4 and [$node6], client $client4 and [$client6] (as the family allows)"
"scenario_$scenario"
finish
