// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace strait {

// A host and port as a user writes them: in configuration (`firstEp`), on a command line
// (`-h`), in logs and errors. The host is an FQDN, an IPv4 address or an IPv6 address with an
// optional zone id. Formatting always brackets IPv6, so parse(to_string(e)) == e.
class endpoint {
 public:
  enum class host_kind { name, ipv4, ipv6 };

  endpoint() = default;

  // Accepted forms: `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 literal, IPv4, and
  // zone ids on IPv6 (`fe80::1%eth0`, `[fe80::1%2]`, and the URI form `%25eth0`). A missing
  // port becomes `default_port` (0 means "not given"). Fails with errc::invalid_endpoint and a
  // sentence quoting the input on: an empty host, a port outside 1-65535, a name that breaks
  // RFC 1123 label rules, unbalanced brackets, a link-local IPv6 address without a zone. A bare
  // IPv6 literal whose last group is all digits (`2001:db8::1:6030`) is accepted as an address
  // with a warning naming the bracketed form the user probably meant.
  static result<endpoint> parse(std::string_view text, std::uint16_t default_port = 0);

  // An endpoint from parts known to be valid, such as a resolved address.
  static endpoint from_address(std::string_view address, std::uint16_t port);

  const std::string& host() const noexcept { return host_; }
  std::uint16_t port() const noexcept { return port_; }
  // The IPv6 zone id without '%', or empty.
  const std::string& zone() const noexcept { return zone_; }
  host_kind kind() const noexcept { return kind_; }
  bool is_address() const noexcept { return kind_ != host_kind::name; }

  endpoint with_port(std::uint16_t port) const;

  // `host:port`, `[v6%zone]:port`; without `:port` when the port is 0.
  std::string to_string() const;
  // The host as a resolver takes it: no brackets, IPv6 zone appended after '%'.
  std::string host_for_resolver() const;

  friend bool operator==(const endpoint&, const endpoint&) = default;

 private:
  std::string host_;
  std::uint16_t port_ = 0;
  std::string zone_;
  host_kind kind_ = host_kind::name;
};

}  // namespace strait
