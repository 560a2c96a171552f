// SPDX-License-Identifier: Apache-2.0
#include <strait/acceptor.hpp>

#include <strait/config.hpp>

#include "log_internal.hpp"

#include <boost/asio/ip/v6_only.hpp>

#include <fstream>
#include <optional>

namespace strait {
namespace {

using asio::ip::tcp;

struct planned_socket {
  asio::ip::address address;
  bool v6_only = false;
};

std::string describe(const planned_socket& plan, std::uint16_t port) {
  auto where = endpoint::from_address(plan.address.to_string(), port).to_string();
  if (plan.address.is_v4()) return "listening on " + where + " (IPv4)";
  if (plan.v6_only) return "listening on " + where + " (IPv6 only, IPV6_V6ONLY=1)";
  return "listening on " + where + " (IPv6, dual stack: IPv4 clients accepted, IPV6_V6ONLY=0)";
}

std::string bind_advice(const std::error_code& ec) {
  if (ec == std::errc::address_in_use) {
    return "; another process listens there: stop it or change serverPort";
  }
  if (ec == std::errc::address_not_available) {
    return "; serverIPv6 must be an address of this host, or :: for every interface";
  }
  if (ec == std::errc::permission_denied) return "; ports below 1024 need privileges";
  return "";
}

// Opens, configures and binds one socket. The socket is not listening yet.
result<tcp::acceptor> bind_one(asio::any_io_executor executor, const planned_socket& plan,
                               std::uint16_t port) {
  tcp::acceptor socket(executor);
  tcp::endpoint where(plan.address, port);
  boost::system::error_code ec;
  socket.open(where.protocol(), ec);
  if (!ec) socket.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && plan.address.is_v6()) socket.set_option(asio::ip::v6_only(plan.v6_only), ec);
  if (!ec) socket.bind(where, ec);
  if (!ec) socket.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    auto shown = endpoint::from_address(plan.address.to_string(), port).to_string();
    return result<tcp::acceptor>::failure(
        ec, "cannot listen on " + shown + ": " + ec.message() + bind_advice(ec));
  }
  return socket;
}

result<std::vector<planned_socket>> plan_sockets(const listen_options& options) {
  const auto any_v4 = planned_socket{asio::ip::address_v4::any(), false};
  if (options.policy == family_policy::ipv4_only) return std::vector{any_v4};

  boost::system::error_code ec;
  auto v6 = asio::ip::make_address_v6(options.ipv6_address, ec);
  if (ec) {
    return result<std::vector<planned_socket>>::failure(
        make_error_code(errc::invalid_configuration),
        "serverIPv6 '" + options.ipv6_address + "' is not an IPv6 address");
  }
  if (v6.is_unspecified()) return std::vector{planned_socket{v6, options.ipv6_only}};
  if (options.ipv6_only) return std::vector{planned_socket{v6, true}};
  return std::vector{planned_socket{v6, true}, any_v4};
}

// A host without IPv6 refuses AF_INET6 sockets or the unspecified IPv6 address.
bool ipv6_unavailable(const std::error_code& ec) {
  return ec == std::errc::address_family_not_supported || ec == std::errc::address_not_available;
}

struct bound_socket {
  tcp::acceptor socket;
  planned_socket plan;
};

// Why the host cannot serve IPv6, when it cannot: a kernel without IPv6, or with IPv6 disabled
// on every interface (sysctl disable_ipv6), where binding "::" still succeeds but no client can
// reach the node over IPv6.
std::optional<std::string> ipv6_absence() {
  std::ifstream addresses("/proc/net/if_inet6");
  if (!addresses) return "the kernel offers no IPv6";
  std::string line;
  if (!std::getline(addresses, line)) return "no interface has an IPv6 address";
  return std::nullopt;
}

result<bound_socket> fall_back_to_ipv4(asio::any_io_executor executor, std::uint16_t port,
                                       const std::string& reason) {
  auto v4 = planned_socket{asio::ip::address_v4::any(), false};
  detail::log(log_level::warning, "transport", "IPv6 is not available on this host (", reason,
              "); listening on IPv4 0.0.0.0 instead");
  auto socket = bind_one(executor, v4, port);
  if (!socket) return result<bound_socket>::failure(socket.code(), socket.message());
  return bound_socket{std::move(socket).value(), v4};
}

// Binds the planned socket. Only the default "::" may fall back to IPv4, on a host without
// IPv6: an explicit serverIPv6 that cannot be bound is the operator's mistake to hear about.
result<bound_socket> bind_planned(asio::any_io_executor executor, const planned_socket& plan,
                                  std::uint16_t port, const listen_options& options) {
  bool default_any =
      plan.address.is_v6() && plan.address.is_unspecified() && !options.ipv6_address_explicit;
  if (default_any) {
    if (auto reason = ipv6_absence()) return fall_back_to_ipv4(executor, port, *reason);
  }

  auto socket = bind_one(executor, plan, port);
  if (socket) return bound_socket{std::move(socket).value(), plan};
  if (!default_any || !ipv6_unavailable(socket.code())) {
    return result<bound_socket>::failure(socket.code(), socket.message());
  }
  return fall_back_to_ipv4(executor, port, socket.code().message());
}

}  // namespace

listen_options listen_options::from_config(const config& cfg) {
  listen_options options;
  options.ipv6_address = cfg.get_string("serverIPv6");
  options.ipv6_address_explicit = cfg.is_set("serverIPv6");
  options.port = static_cast<std::uint16_t>(cfg.get_int("serverPort"));
  options.policy = family_policy_from(cfg);
  options.ipv6_only = cfg.get_bool("ipv6Only");
  return options;
}

result<acceptor> acceptor::open(asio::any_io_executor executor, const listen_options& options) {
  auto plan = plan_sockets(options);
  if (!plan) return result<acceptor>::failure(plan.code(), plan.message());

  acceptor bound;
  bound.port_ = options.port;
  for (const auto& socket_plan : *plan) {
    auto socket = bind_planned(executor, socket_plan, bound.port_, options);
    if (!socket) return result<acceptor>::failure(socket.code(), socket.message());

    // Port 0 asks the system for a port once; every later socket of the node reuses it, so
    // that the node has one port whatever its families.
    if (bound.port_ == 0) bound.port_ = socket->socket.local_endpoint().port();
    detail::log(log_level::info, "transport", describe(socket->plan, bound.port_));
    bound.sockets_.push_back(std::move(socket).value().socket);
  }
  return bound;
}

std::vector<endpoint> acceptor::local_endpoints() const {
  std::vector<endpoint> out;
  for (const auto& socket : sockets_) {
    boost::system::error_code ec;
    auto local = socket.local_endpoint(ec);
    if (!ec) out.push_back(endpoint::from_address(local.address().to_string(), local.port()));
  }
  return out;
}

void acceptor::close() noexcept {
  for (auto& socket : sockets_) {
    boost::system::error_code ignored;
    socket.close(ignored);
  }
}

}  // namespace strait
