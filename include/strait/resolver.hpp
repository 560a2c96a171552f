// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/endpoint.hpp>
#include <strait/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <vector>

namespace strait {

namespace asio = boost::asio;

class config;

// Which address families a process may use, from `enableIPv6`.
enum class family_policy {
  ipv4_only,   // enableIPv6 0: A records only; an IPv6 literal is a configuration error
  dual_stack,  // enableIPv6 1: AAAA and A, IPv6 first
};

family_policy family_policy_from(const config& cfg);

// Start-up check of the family policy: with `enableIPv6 0`, an IPv6 literal in `fqdn`,
// `firstEp`, `secondEp` or `serverIPv6` is an error that says to set `enableIPv6 1`. Problems
// are added to `cfg`.
void check_family_policy(config& cfg);

// The endpoints a process dials, in failover order: `firstEp` (when empty, `fqdn:serverPort`),
// then `secondEp` when set. A missing port is `serverPort`; with `serverPort 0` (the node picks
// its port) `firstEp` and `secondEp` must give their own, and `fqdn` comes back without one.
// Endpoints that cannot be used are reported to `cfg` with their key and left out; a node calls
// this among its start-up checks.
std::vector<endpoint> cluster_endpoints(config& cfg);

// Resolves an endpoint to the addresses a connector should try, in the order it should try
// them: de-duplicated, families interleaved with the preferred one first (RFC 8305 section 4),
// each family in the system's RFC 6724 order. An address literal is returned as it is, checked
// against the policy. Fails with errc::resolve_failed naming the host, the service and the
// resolver's own message; errc::address_family_disabled for an IPv6 literal under ipv4_only;
// errc::resolve_failed ("no answer within N ms") when `deadline` passes first.
asio::awaitable<result<std::vector<asio::ip::tcp::endpoint>>> resolve(
    endpoint target, family_policy policy, std::chrono::milliseconds deadline);

// The interleaving step on its own, for tests: `addresses` in the system's order in, the
// connection order out.
std::vector<asio::ip::tcp::endpoint> order_for_connect(
    std::vector<asio::ip::tcp::endpoint> addresses, family_policy policy);

}  // namespace strait
