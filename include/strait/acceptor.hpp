// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/endpoint.hpp>
#include <strait/resolver.hpp>
#include <strait/result.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace strait {

namespace asio = boost::asio;

class config;

// Where and how a node listens.
struct listen_options {
  // `serverIPv6`: the IPv6 address to listen on; "::" (the default) means every interface.
  std::string ipv6_address = "::";
  // True when `serverIPv6` was configured explicitly: then failing to bind it is an error,
  // whereas the default "::" on a host without IPv6 falls back to IPv4 with a warning.
  bool ipv6_address_explicit = false;
  // `serverPort`. 0 picks one ephemeral port, shared by every socket of the node.
  std::uint16_t port = 6030;
  // `enableIPv6`: ipv4_only listens on 0.0.0.0 alone.
  family_policy policy = family_policy::dual_stack;
  // `ipv6Only`: set IPV6_V6ONLY so that the IPv6 socket takes no IPv4 clients.
  bool ipv6_only = false;

  static listen_options from_config(const config& cfg);
};

// The listening sockets of a node. Under the dual-stack policy with the default "::" this is one
// socket with IPV6_V6ONLY cleared explicitly (the system default varies), so IPv4 clients are
// served as IPv4-mapped addresses. A specific `serverIPv6` gets its own socket plus 0.0.0.0 for
// IPv4 clients, unless `ipv6Only`. Each bound socket is reported with one log line.
class acceptor {
 public:
  // Opens and binds every socket. Fails with the address named: already in use, not an
  // address of this host, IPv6 unavailable for an explicit `serverIPv6`.
  static result<acceptor> open(asio::any_io_executor executor, const listen_options& options);

  std::vector<asio::ip::tcp::acceptor>& sockets() noexcept { return sockets_; }
  // The port every socket is bound to.
  std::uint16_t port() const noexcept { return port_; }
  std::vector<endpoint> local_endpoints() const;
  // Stops listening; accepts in progress complete with operation_aborted.
  void close() noexcept;

 private:
  std::vector<asio::ip::tcp::acceptor> sockets_;
  std::uint16_t port_ = 0;
};

}  // namespace strait
