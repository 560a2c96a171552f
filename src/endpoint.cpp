// SPDX-License-Identifier: Apache-2.0
#include <strait/endpoint.hpp>

#include <boost/asio/ip/address.hpp>

#include <net/if.h>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace strait {
namespace {

namespace asio = boost::asio;

// RFC 1123 limits, counted without a trailing dot.
constexpr std::size_t max_name_length = 253;
constexpr std::size_t max_label_length = 63;
// Error messages quote at most this much of the input, so that a megabyte of garbage on a
// command line does not become a megabyte of log. The longest valid endpoint fits.
constexpr std::size_t max_quoted_length = 300;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_name_char(char c) {
  return is_alpha(c) || is_digit(c) || c == '-';
}
bool is_zone_char(char c) {
  return is_name_char(c) || c == '.' || c == '_';
}

bool all_of(std::string_view text, bool (*predicate)(char)) {
  return std::all_of(text.begin(), text.end(), predicate);
}

// One character as a user can read it in a message, even when it is a control byte.
std::string printable(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7f) return std::string(1, c);
  constexpr char hex[] = "0123456789abcdef";
  return std::string("\\x") + hex[byte >> 4] + hex[byte & 0xf];
}

// The input in single quotes, control bytes escaped, cut short when very long.
std::string quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, max_quoted_length))
    out += printable(c);
  if (text.size() > max_quoted_length) out += "...";
  return out + "'";
}

template <class T>
result<T> invalid(std::string_view input, const std::string& problem) {
  return result<T>::failure(errc::invalid_endpoint,
                            "invalid endpoint " + quoted(input) + ": " + problem);
}

// The endpoint text cut into its host and port parts, brackets removed.
struct host_and_port {
  std::string_view host;
  std::optional<std::string_view> port;
  bool bracketed = false;
};

result<host_and_port> split_bracketed(std::string_view input) {
  const std::size_t close = input.find(']');
  if (close == std::string_view::npos)
    return invalid<host_and_port>(input, "'[' has no matching ']'");

  const std::string_view inside = input.substr(1, close - 1);
  const std::string_view after = input.substr(close + 1);
  if (inside.find('[') != std::string_view::npos ||
      after.find_first_of("[]") != std::string_view::npos)
    return invalid<host_and_port>(input, "the brackets are unbalanced; write [IPv6]:port");
  if (after.empty()) return host_and_port{inside, std::nullopt, true};
  if (after.front() != ':')
    return invalid<host_and_port>(input, "only ':port' may follow ']', not " + quoted(after));
  return host_and_port{inside, after.substr(1), true};
}

// Two or more colons without brackets can only be a bare IPv6 literal: `::1` is the address
// ::1, never host ":" and port 1.
result<host_and_port> split_host_port(std::string_view input) {
  if (input.empty())
    return invalid<host_and_port>(input, "it is empty; write host, host:port or [IPv6]:port");
  if (input.front() == '[') return split_bracketed(input);
  if (input.find_first_of("[]") != std::string_view::npos)
    return invalid<host_and_port>(input, "the brackets are unbalanced; write [IPv6]:port");

  const auto colons = std::count(input.begin(), input.end(), ':');
  if (colons != 1) return host_and_port{input, std::nullopt, false};
  const std::size_t colon = input.find(':');
  return host_and_port{input.substr(0, colon), input.substr(colon + 1), false};
}

result<std::uint16_t> parse_port(std::string_view input, std::string_view text) {
  if (text.empty()) return invalid<std::uint16_t>(input, "the port after ':' is missing");
  if (!all_of(text, is_digit))
    return invalid<std::uint16_t>(input, "the port " + quoted(text) + " is not a number");

  unsigned long value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value > 65535)
      return invalid<std::uint16_t>(input, "the port " + quoted(text) + " is outside 1-65535");
  }
  if (value == 0)
    return invalid<std::uint16_t>(input, "port 0 cannot be dialled or listened on; use 1-65535");
  return static_cast<std::uint16_t>(value);
}

struct host_parts {
  std::string host;
  std::string zone;
  endpoint::host_kind kind = endpoint::host_kind::name;
};

// RFC 6874 writes the zone of an address inside a URI as `%25zone` ("%25" being an encoded
// '%'). We read a zone that starts with "25" followed by a non-digit as that form, so `%25eth0`
// is the zone "eth0", while `%25` and `%251` stay the numeric interface indexes 25 and 251. The
// zones this yields never start with "25" and a non-digit, so formatting a zone as it is reads
// back to the same zone.
bool is_uri_encoded_zone(std::string_view zone) {
  return zone.size() > 2 && zone.starts_with("25") && !is_digit(zone[2]);
}

std::string_view decode_zone(std::string_view zone) {
  return is_uri_encoded_zone(zone) ? zone.substr(2) : zone;
}

std::optional<std::string> check_zone(std::string_view zone, std::string_view address,
                                      bool bracketed) {
  if (zone.empty()) return "the zone id after '%' is empty; name the interface, as in fe80::1%eth0";
  const auto bad = std::find_if_not(zone.begin(), zone.end(), is_zone_char);
  if (bad == zone.end()) return std::nullopt;
  if (*bad == ':' && !bracketed) {
    const std::string_view name = zone.substr(0, static_cast<std::size_t>(bad - zone.begin()));
    return "a port after a zone id needs brackets: write [" + std::string(address) + "%" +
           std::string(name) + "]" + std::string(zone.substr(name.size()));
  }
  return "the zone id " + quoted(zone) + " contains '" + printable(*bad) +
         "'; a zone id is letters, digits, '.', '_' and '-'";
}

std::optional<asio::ip::address_v6> to_address_v6(std::string_view text) {
  // Checked first because the text reaches inet_pton as a C string: an embedded NUL or '%'
  // would end or change the address silently.
  if (text.empty() || !all_of(text, [](char c) { return is_hex_digit(c) || c == ':' || c == '.'; }))
    return std::nullopt;
  boost::system::error_code error;
  const auto address = asio::ip::make_address_v6(std::string(text), error);
  if (error) return std::nullopt;
  return address;
}

// For a bare literal that ends in a group of decimal digits: the bracketed endpoint the user
// probably meant, reading that group as a port. Empty when the text before the group is not an
// address on its own, so that the suggestion is always a valid endpoint.
std::string port_reading(std::string_view address, std::string_view zone, std::size_t max_digits) {
  const std::size_t colon = address.rfind(':');
  const std::string_view group = address.substr(colon + 1);
  if (group.size() < 2 || group.size() > max_digits || !all_of(group, is_digit)) return {};

  std::string rest(address.substr(0, colon));
  if (rest.ends_with(':')) rest += ':';
  if (!to_address_v6(rest)) return {};
  const std::string zone_part = zone.empty() ? "" : "%" + std::string(zone);
  return "[" + rest + zone_part + "]:" + std::string(group);
}

std::string not_an_ipv6_address(std::string_view address, std::string_view zone, bool bracketed) {
  std::string problem = quoted(address) + " is not a valid IPv6 address";
  // Five digits cannot be an IPv6 group, so `2001:db8::1:60300` fails here rather than warn.
  if (const auto meant = port_reading(address, zone, 5); !bracketed && !meant.empty())
    problem += "; if the last number is the port, write " + meant;
  return problem;
}

// The rule for the warning: no brackets, the last group is 2 to 4 decimal digits (the most an
// IPv6 group holds), and the text before it is an IPv6 address by itself. So `::1` and
// `2001:db8::1` do not warn, `2001:db8::1:6030` does.
void warn_if_port_like(std::string_view input, std::string_view address, std::string_view zone,
                       std::vector<std::string>& warnings) {
  const std::string meant = port_reading(address, zone, 4);
  if (meant.empty()) return;
  const std::string_view group = address.substr(address.rfind(':') + 1);
  warnings.push_back(quoted(input) + " is read as the IPv6 address " + std::string(address) +
                     " with no port; if " + std::string(group) + " was meant as the port, write " +
                     meant);
}

result<host_parts> parse_ipv6(std::string_view input, std::string_view text, bool bracketed,
                              std::vector<std::string>& warnings) {
  const std::size_t percent = text.find('%');
  const std::string_view address_text = text.substr(0, percent);
  std::string_view zone;
  if (percent != std::string_view::npos) {
    zone = decode_zone(text.substr(percent + 1));
    if (auto problem = check_zone(zone, address_text, bracketed))
      return invalid<host_parts>(input, *problem);
  }

  const auto address = to_address_v6(address_text);
  if (!address)
    return invalid<host_parts>(input, not_an_ipv6_address(address_text, zone, bracketed));
  const std::string canonical = address->to_string();
  if (address->is_link_local() && zone.empty())
    return invalid<host_parts>(
        input, canonical +
                   " is a link-local address, which needs a zone id naming the interface, as in " +
                   canonical + "%eth0");

  if (!bracketed) warn_if_port_like(input, address_text, zone, warnings);
  return host_parts{canonical, std::string(zone), endpoint::host_kind::ipv6};
}

result<host_parts> parse_ipv4(std::string_view input, std::string_view text) {
  boost::system::error_code error;
  const auto address = asio::ip::make_address_v4(std::string(text), error);
  if (error)
    return invalid<host_parts>(input, quoted(text) +
                                          " is not a valid IPv4 address; write four numbers 0-255 "
                                          "without leading zeros, as in 127.0.0.1");
  return host_parts{address.to_string(), {}, endpoint::host_kind::ipv4};
}

std::optional<std::string> check_label(std::string_view label) {
  if (label.empty()) return "it has an empty label (two dots in a row, or a leading dot)";
  if (label.size() > max_label_length)
    return "the label " + quoted(label) + " is " + std::to_string(label.size()) +
           " characters long; RFC 1123 allows at most 63";
  if (const auto bad = std::find_if_not(label.begin(), label.end(), is_name_char);
      bad != label.end())
    return "it contains '" + printable(*bad) +
           "'; a host name is letters, digits, '-' and '.' (RFC 1123)";
  if (label.front() == '-' || label.back() == '-')
    return "the label " + quoted(label) + " starts or ends with '-', which RFC 1123 does not allow";
  return std::nullopt;
}

// RFC 1123 host names. A single trailing dot (a fully qualified name) is allowed and kept.
result<host_parts> parse_name(std::string_view input, std::string_view text) {
  const std::string_view name = text.ends_with('.') ? text.substr(0, text.size() - 1) : text;
  if (name.size() > max_name_length)
    return invalid<host_parts>(input, "the host name is " + std::to_string(name.size()) +
                                          " characters long; RFC 1123 allows at most 253");

  std::string_view last_label;
  for (std::string_view rest = name;;) {
    const std::size_t dot = rest.find('.');
    last_label = rest.substr(0, dot);
    if (auto problem = check_label(last_label)) return invalid<host_parts>(input, *problem);
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  // getaddrinfo reads names such as `0x7f.1` as IPv4 numbers; no real name ends in an all-digit
  // label, so refusing those keeps every accepted name a name.
  if (all_of(last_label, is_digit))
    return invalid<host_parts>(input, "the last label " + quoted(last_label) +
                                          " is all digits, which no host name has; an IPv4 address "
                                          "is four numbers 0-255, as in 127.0.0.1");
  return host_parts{std::string(text), {}, endpoint::host_kind::name};
}

result<host_parts> parse_host(std::string_view input, const host_and_port& parts,
                              std::vector<std::string>& warnings) {
  const std::string_view text = parts.host;
  if (text.empty()) return invalid<host_parts>(input, "the host is empty");
  const bool has_colon = text.find(':') != std::string_view::npos;
  if (parts.bracketed && !has_colon)
    return invalid<host_parts>(
        input, "brackets are only for IPv6 addresses; write " + quoted(text) + " without them");
  if (has_colon) return parse_ipv6(input, text, parts.bracketed, warnings);
  if (const std::size_t percent = text.find('%'); percent != std::string_view::npos)
    return invalid<host_parts>(
        input, "a zone id (" + quoted(text.substr(percent)) + ") belongs only to an IPv6 address");

  // Digits and dots only: meant as IPv4, and must be one.
  const bool digits_and_dots = all_of(text, [](char c) { return is_digit(c) || c == '.'; });
  if (digits_and_dots && std::any_of(text.begin(), text.end(), is_digit))
    return parse_ipv4(input, text);
  return parse_name(input, text);
}

// A zone from an address that asio formatted. Interface names that the parser would read
// differently (URI-looking, or with characters outside the zone alphabet) are replaced by the
// interface index, so that the endpoint still formats and parses back to itself.
std::string zone_from_system(std::string_view zone) {
  if (zone.empty() || (all_of(zone, is_zone_char) && !is_uri_encoded_zone(zone)))
    return std::string(zone);
  const unsigned index = ::if_nametoindex(std::string(zone).c_str());
  return index != 0 ? std::to_string(index) : std::string(zone);
}

}  // namespace

result<endpoint> endpoint::parse(std::string_view text, std::uint16_t default_port) {
  auto parts = split_host_port(text);
  if (!parts) return result<endpoint>::failure(parts.code(), parts.message());

  std::vector<std::string> warnings;
  auto host = parse_host(text, *parts, warnings);
  if (!host) return result<endpoint>::failure(host.code(), host.message());

  host_parts h = std::move(host).value();
  endpoint e;
  e.host_ = std::move(h.host);
  e.zone_ = std::move(h.zone);
  e.kind_ = h.kind;
  e.port_ = default_port;
  if (parts->port) {
    auto port = parse_port(text, *parts->port);
    if (!port) return result<endpoint>::failure(port.code(), port.message());
    e.port_ = *port;
  }

  result<endpoint> parsed(std::move(e));
  for (auto& warning : warnings)
    parsed.add_warning(std::move(warning));
  return parsed;
}

endpoint endpoint::from_address(std::string_view address, std::uint16_t port) {
  endpoint e;
  e.port_ = port;
  const std::size_t percent = address.find('%');
  if (address.find(':') != std::string_view::npos) {
    const std::string_view text = address.substr(0, percent);
    const auto v6 = to_address_v6(text);
    e.host_ = v6 ? v6->to_string() : std::string(text);
    if (percent != std::string_view::npos) e.zone_ = zone_from_system(address.substr(percent + 1));
    e.kind_ = host_kind::ipv6;
    return e;
  }

  boost::system::error_code error;
  const auto v4 = asio::ip::make_address_v4(std::string(address), error);
  e.host_ = error ? std::string(address) : v4.to_string();
  e.kind_ = error ? host_kind::name : host_kind::ipv4;
  return e;
}

endpoint endpoint::with_port(std::uint16_t port) const {
  endpoint e = *this;
  e.port_ = port;
  return e;
}

std::string endpoint::to_string() const {
  std::string text = kind_ == host_kind::ipv6 ? "[" + host_for_resolver() + "]" : host_;
  if (port_ != 0) text += ":" + std::to_string(port_);
  return text;
}

std::string endpoint::host_for_resolver() const {
  return zone_.empty() ? host_ : host_ + "%" + zone_;
}

}  // namespace strait
