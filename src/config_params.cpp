// SPDX-License-Identifier: Apache-2.0
#include <strait/config.hpp>
#include <strait/endpoint.hpp>
#include <strait/error.hpp>

#include "config_text.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <limits>
#include <utility>

namespace strait {
namespace {

using detail::ascii_lower;
using detail::equal_ci;
using detail::in_quotes;
using detail::lower;
using detail::same_folded;

result<std::string> invalid(std::string message) {
  return result<std::string>::failure(make_error_code(errc::invalid_configuration),
                                      std::move(message));
}

result<std::string> check_boolean(std::string_view raw, const param_spec& spec) {
  const std::string word = lower(raw);
  if (word == "1" || word == "true" || word == "yes" || word == "on") return std::string("1");
  if (word == "0" || word == "false" || word == "no" || word == "off") return std::string("0");
  return invalid(in_quotes(raw) + " is not a boolean; use " + accepted_form(spec));
}

result<std::string> check_integer(std::string_view raw, const param_spec& spec) {
  std::int64_t number = 0;
  const auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), number);
  if (ec == std::errc::result_out_of_range) {
    return invalid(in_quotes(raw) + " is out of range; expected " + accepted_form(spec));
  }
  if (ec != std::errc() || end != raw.data() + raw.size()) {
    return invalid(in_quotes(raw) + " is not an integer; expected " + accepted_form(spec));
  }
  if (number < spec.min || number > spec.max) {
    return invalid(in_quotes(raw) + " is out of range; expected " + accepted_form(spec));
  }
  return std::to_string(number);
}

result<std::string> check_endpoint(std::string_view raw, const param_spec& spec) {
  if (raw.empty()) return std::string();
  auto parsed = endpoint::parse(raw);
  if (!parsed) {
    return invalid(in_quotes(raw) + " is not an endpoint (" + parsed.message() + "); expected " +
                   accepted_form(spec));
  }
  result<std::string> checked{std::string(raw)};
  for (const auto& warning : parsed.warnings())
    checked.add_warning(warning);
  return checked;
}

// The endpoint parser's only warning is for a bare IPv6 literal whose last group looks like a
// port, and it suggests the bracketed form with that port, which a key without a port does not
// take: this warning says where the port goes instead.
void add_port_like_warning(result<std::string>& checked, std::string_view raw,
                           const result<endpoint>& parsed) {
  if (parsed.warnings().empty()) return;
  const std::string_view address = raw.substr(0, raw.find('%'));
  const std::string_view group = address.substr(address.rfind(':') + 1);
  checked.add_warning(in_quotes(raw) + " is read as an IPv6 address; if " + std::string(group) +
                      " was meant as the port, write the address alone and put the port in "
                      "serverPort");
}

// A host is what endpoint::parse takes without a port. A port is refused rather than dropped:
// `fqdn [::1]:5` would otherwise quietly become [::1] at serverPort.
result<std::string> check_host(std::string_view raw, const param_spec& spec) {
  if (raw.empty()) return invalid("the value is empty; expected " + accepted_form(spec));
  auto parsed = endpoint::parse(raw);
  if (!parsed) {
    return invalid(in_quotes(raw) + " is not a host (" + parsed.message() + "); expected " +
                   accepted_form(spec));
  }
  if (parsed->port() != 0) {
    return invalid(in_quotes(raw) + " has a port; " + spec.name +
                   " takes a host name or address without a port; put the port in serverPort");
  }

  result<std::string> checked{std::string(raw)};
  add_port_like_warning(checked, raw, parsed);
  return checked;
}

// An IPv6 address to listen on: brackets are accepted, as everywhere else an IPv6 address is
// written, and dropped. An IPv4 address is refused with what to do instead, since the node
// serves IPv4 clients without any key.
result<std::string> check_ipv6_address(std::string_view raw, const param_spec& spec) {
  if (raw.empty()) return invalid("the value is empty; expected " + accepted_form(spec));
  auto parsed = endpoint::parse(raw);
  if (!parsed) {
    return invalid(in_quotes(raw) + " is not an IPv6 address (" + parsed.message() +
                   "); expected " + accepted_form(spec));
  }
  if (parsed->kind() == endpoint::host_kind::ipv4) {
    return invalid(in_quotes(raw) + " is an IPv4 address, but " + spec.name +
                   " takes an IPv6 address. IPv4 needs no key: IPv4 clients are served unless "
                   "ipv6Only is 1; to listen on IPv4 only, set enableIPv6 0");
  }
  if (parsed->kind() != endpoint::host_kind::ipv6) {
    return invalid(in_quotes(raw) + " is a host name, not an IPv6 address; expected " +
                   accepted_form(spec));
  }
  if (parsed->port() != 0) {
    return invalid(in_quotes(raw) + " has a port; " + spec.name +
                   " takes an address alone; put the port in serverPort");
  }

  // No warning for a last group that looks like a port (2001:db8::10): an address to listen on
  // is never written with one, so the warning would only be noise here.
  const std::string& zone = parsed->zone();
  return parsed->host() + (zone.empty() ? "" : "%" + zone);
}

result<std::string> check_choice(std::string_view raw, const param_spec& spec) {
  for (const auto& choice : spec.choices) {
    if (equal_ci(choice, raw)) return choice;
  }
  return invalid(in_quotes(raw) + " is not accepted; expected " + accepted_form(spec));
}

// Edit distance with adjacent transpositions counted as one edit, case-insensitive, so that
// "fdqn" is one step from "fqdn". Stops early with `limit + 1` once every path costs more.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
  std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    previous[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    std::size_t row_best = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const bool same = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]);
      current[j] =
          std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) &&
          ascii_lower(a[i - 2]) == ascii_lower(b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
      row_best = std::min(row_best, current[j]);
    }
    // A transposition reaches back two rows, so the previous row's best still counts.
    if (std::min(row_best, *std::min_element(previous.begin(), previous.end())) > limit) {
      return limit + 1;
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return std::min(previous[b.size()], limit + 1);
}

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  const char first = ascii_lower(name.front());
  return first >= 'a' && first <= 'z' && std::all_of(name.begin(), name.end(), is_name_char);
}

result<bool> refuse(const param_spec& spec, std::string why) {
  return result<bool>::failure(
      make_error_code(errc::invalid_configuration),
      "cannot register key " + in_quotes(spec.name) + ": " + std::move(why));
}

// Markdown table cells: a '|' would end the cell and a line break the row.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += (c == '\n') ? ' ' : c;
    }
  }
  return out;
}

std::string code(std::string_view text) {
  return text.empty() ? std::string("*(empty)*") : "`" + cell(text) + "`";
}

constexpr std::string_view markdown_begin =
    "<!-- BEGIN generated by strait-config-doc from the parameter registry; do not edit -->\n";
constexpr std::string_view markdown_end = "<!-- END generated -->\n";

std::string markdown_row(const param_spec& spec) {
  const std::string accepted =
      spec.type == param_type::boolean ? "0 or 1" : cell(accepted_form(spec));
  return "| `" + spec.name + "` | " + std::string(to_string(spec.type)) + " | " +
         code(spec.default_value) + " | " + accepted + " | " + std::string(to_string(spec.scope)) +
         " | " + (spec.dynamic ? "yes" : "no") + " | `" + environment_name("STRAIT_", spec.name) +
         "` | " + cell(spec.description) + " |\n";
}

}  // namespace

result<std::string> check_value(const param_spec& spec, std::string_view raw) {
  if (raw.size() > config::max_line_bytes) {
    return invalid("the value is " + std::to_string(raw.size()) + " bytes long; the limit is " +
                   std::to_string(config::max_line_bytes));
  }
  switch (spec.type) {
    case param_type::boolean:
      return check_boolean(raw, spec);
    case param_type::integer:
      return check_integer(raw, spec);
    case param_type::endpoint:
      return check_endpoint(raw, spec);
    case param_type::enumeration:
      return check_choice(raw, spec);
    case param_type::host:
      return check_host(raw, spec);
    case param_type::ipv6_address:
      return check_ipv6_address(raw, spec);
    case param_type::string:
    case param_type::path:
      return std::string(raw);
  }
  return invalid("key " + in_quotes(spec.name) + " has an unknown type");
}

std::string accepted_form(const param_spec& spec) {
  switch (spec.type) {
    case param_type::boolean:
      return "0 or 1 (also true/false, yes/no, on/off)";
    case param_type::integer:
      return "an integer from " + std::to_string(spec.min) + " to " + std::to_string(spec.max);
    case param_type::string:
      return "any text";
    case param_type::path:
      return "a file path";
    case param_type::endpoint:
      return "host, host:port, [IPv6] or [IPv6]:port";
    case param_type::host:
      return "a host name, IPv4 address or IPv6 address, without a port";
    case param_type::ipv6_address:
      return "an IPv6 address, bare or in brackets, without a port";
    case param_type::enumeration: {
      std::string list = "one of: ";
      for (std::size_t i = 0; i < spec.choices.size(); ++i) {
        list += (i == 0 ? "" : ", ") + spec.choices[i];
      }
      return list;
    }
  }
  return "nothing (unknown type)";
}

result<bool> param_registry::add(param_spec spec) {
  if (!is_valid_name(spec.name)) {
    return refuse(spec, "a key is 1 to 64 letters, digits and underscores, starting with a letter");
  }
  if (const param_spec* existing = find(spec.name)) {
    return refuse(spec, "it is already registered as " + in_quotes(existing->name));
  }
  for (const auto& existing : specs_) {
    if (same_folded(existing.name, spec.name)) {
      return refuse(spec, "its environment variable would be the same as that of " +
                              in_quotes(existing.name));
    }
  }
  if (spec.type == param_type::integer && spec.min > spec.max) {
    return refuse(spec, "its range is empty (min " + std::to_string(spec.min) + " > max " +
                            std::to_string(spec.max) + ")");
  }
  if (spec.type == param_type::enumeration && spec.choices.empty()) {
    return refuse(spec, "an enumeration needs at least one choice");
  }

  // The default is stored in canonical form, as any other value would be.
  auto checked_default = check_value(spec, spec.default_value);
  if (!checked_default) return refuse(spec, "its default " + checked_default.message());
  spec.default_value = std::move(checked_default).value();

  specs_.push_back(std::move(spec));
  return true;
}

const param_spec* param_registry::find(std::string_view name) const {
  const auto it = std::find_if(specs_.begin(), specs_.end(),
                               [&](const param_spec& spec) { return equal_ci(spec.name, name); });
  return it == specs_.end() ? nullptr : &*it;
}

std::string param_registry::nearest(std::string_view name) const {
  // Allow about one edit in three characters, and at least two, so that short typos are found
  // but unrelated words are not.
  const std::size_t allowed = std::max<std::size_t>(2, name.size() / 3);
  std::size_t best_distance = allowed + 1;
  std::string best;
  for (const auto& spec : specs_) {
    const std::size_t length_gap = spec.name.size() > name.size() ? spec.name.size() - name.size()
                                                                  : name.size() - spec.name.size();
    if (length_gap >= best_distance) continue;  // the distance is at least the length gap
    const std::size_t distance = edit_distance(name, spec.name, best_distance - 1);
    if (distance < best_distance) {
      best_distance = distance;
      best = spec.name;
    }
  }
  return best;
}

namespace {

constexpr auto client = param_scope::client;
constexpr auto server = param_scope::server;
constexpr auto both = param_scope::both;

param_spec make_key(std::string name, param_type type, std::string default_value, param_scope scope,
                    bool dynamic, std::string description) {
  param_spec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.scope = scope;
  spec.dynamic = dynamic;
  spec.description = std::move(description);
  return spec;
}

param_spec boolean_key(std::string name, std::string default_value, param_scope scope, bool dynamic,
                       std::string description) {
  return make_key(std::move(name), param_type::boolean, std::move(default_value), scope, dynamic,
                  std::move(description));
}

param_spec integer_key(std::string name, std::int64_t default_value, std::int64_t min,
                       std::int64_t max, param_scope scope, bool dynamic, std::string description) {
  param_spec spec = make_key(std::move(name), param_type::integer, std::to_string(default_value),
                             scope, dynamic, std::move(description));
  spec.min = min;
  spec.max = max;
  return spec;
}

// Strings, paths and endpoints: none of them may change at run time.
param_spec text_key(std::string name, param_type type, std::string default_value, param_scope scope,
                    std::string description) {
  return make_key(std::move(name), type, std::move(default_value), scope, false,
                  std::move(description));
}

// The keys of the seed: identity, endpoints, address family and the five TLS paths. None of
// them can change at run time.
std::vector<param_spec> seed_keys() {
  const auto path = param_type::path;
  return {
      text_key("fqdn", param_type::host, "localhost", both,
               "Name (FQDN, IPv4 or IPv6 address) by which other nodes and clients reach this "
               "node. With serverPort it forms the node's endpoint."),
      integer_key("serverPort", 6030, 0, 65535, both, false,
                  "Port the node listens on, and the port of an endpoint given without one. 0 "
                  "lets the node pick a free port, shared by all its listening sockets."),
      text_key("firstEp", param_type::endpoint, "", both,
               "Endpoint of the first node to contact. Empty means fqdn:serverPort."),
      text_key("secondEp", param_type::endpoint, "", both,
               "Endpoint tried when firstEp cannot be reached. Empty means none."),
      boolean_key("enableIPv6", "1", both, false,
                  "1: dual stack; the node listens on serverIPv6 (IPv4 clients reach it too "
                  "unless ipv6Only is 1) and clients resolve and dial both families, preferring "
                  "IPv6. 0: IPv4 only, and an IPv6 address anywhere is an error. The default "
                  "differs from TDengine's 0 so that pure IPv6 and IPv4-only hosts both work "
                  "without setting any key."),
      text_key("serverIPv6", param_type::ipv6_address, "::", server,
               "IPv6 address the node listens on when enableIPv6 is 1; `::` means every "
               "interface."),
      boolean_key("enableTLS", "0", both, false,
                  "1: every link, the node's links to itself included, uses mutual TLS, and "
                  "start-up fails unless the TLS paths of the scope are all set. 0: plain TCP. "
                  "A TLS side and a plain side cannot talk to each other."),
      text_key("tlsCaPath", path, "", both,
               "CA certificate (PEM) that every peer certificate must chain to."),
      text_key("tlsSvrCertPath", path, "", server,
               "Certificate (PEM) the node presents to peers that connect to it."),
      text_key("tlsSvrKeyPath", path, "", server, "Private key (PEM) of tlsSvrCertPath."),
      text_key("tlsCliCertPath", path, "", both,
               "Certificate (PEM) presented when dialling. A node needs it too, for its links "
               "to other nodes and to itself."),
      text_key("tlsCliKeyPath", path, "", both, "Private key (PEM) of tlsCliCertPath."),
  };
}

// Deadlines, limits and threads of the transport and RPC layers.
std::vector<param_spec> transport_keys() {
  return {
      boolean_key("tlsVerifyPeerName", "0", both, false,
                  "1: a client also checks that the node certificate's subjectAltName names the "
                  "host it dialled. 0: a certificate that chains to tlsCaPath is enough."),
      boolean_key("ipv6Only", "0", server, false,
                  "1: the IPv6 listener sets IPV6_V6ONLY and accepts no IPv4 clients. 0: it "
                  "accepts both families (IPV6_V6ONLY is set to 0 explicitly)."),
      integer_key("connectTimeoutMs", 5000, 1, 600000, both, true,
                  "Overall deadline of one connect, across every address of the endpoint, in "
                  "milliseconds."),
      integer_key("happyEyeballsDelayMs", 250, 10, 10000, both, true,
                  "Delay before the next address is tried while earlier attempts are still "
                  "pending (RFC 8305), in milliseconds."),
      integer_key("resolveTimeoutMs", 5000, 1, 600000, both, true,
                  "Deadline of one name resolution, in milliseconds."),
      integer_key("handshakeTimeoutMs", 5000, 1, 600000, both, true,
                  "Deadline of the TLS handshake (or of the plain hello exchange) once "
                  "connected, in milliseconds."),
      integer_key("callTimeoutMs", 30000, 1, 86400000, both, true,
                  "Default deadline of a call, from sending the request to receiving the "
                  "response, in milliseconds."),
      integer_key("maxMessageSize", 16777216, 1024, 1073741824, both, false,
                  "Largest message body, in bytes, that is sent or accepted."),
      integer_key("maxCallsInFlight", 1024, 1, 1000000, both, false,
                  "Calls that may await a response on one connection; more are refused as "
                  "overloaded."),
      integer_key("maxSendQueueBytes", 67108864, 65536, 4294967296, both, false,
                  "Bytes that may wait to be written on one connection; more are refused as "
                  "overloaded."),
      integer_key("rpcThreads", 1, 1, 256, both, false,
                  "Threads that run network I/O and handlers."),
      integer_key("keepAliveIntervalMs", 5000, 100, 3600000, both, false,
                  "Idle time after which a connection sends a keep-alive, in milliseconds."),
      integer_key("deadPeerTimeoutMs", 20000, 300, 86400000, both, false,
                  "Silence after which a peer is taken for dead and its connection closed, in "
                  "milliseconds."),
      integer_key("shutdownTimeoutMs", 5000, 0, 600000, server, true,
                  "How long a stopping node lets calls in progress finish before it closes "
                  "its connections, in milliseconds; 0 closes them at once."),
      integer_key("connectionsPerEndpoint", 1, 1, 64, client, false,
                  "Connections a client keeps to each node."),
      integer_key("reconnectDelayMs", 100, 1, 60000, client, true,
                  "Delay before the first reconnect after a connection is lost, in "
                  "milliseconds; it doubles after each failure up to maxReconnectDelayMs."),
      integer_key("maxReconnectDelayMs", 5000, 1, 600000, client, true,
                  "Longest delay between reconnect attempts, in milliseconds."),
  };
}

}  // namespace

param_registry param_registry::with_builtin_keys() {
  // Built once: every config made with the default registry copies it.
  static const param_registry builtin = [] {
    param_registry registry;
    for (auto keys : {seed_keys(), transport_keys()}) {
      for (auto& spec : keys) {
        [[maybe_unused]] const auto added = registry.add(std::move(spec));
        assert(added.ok() && "a built-in key is inconsistent");
      }
    }
    return registry;
  }();
  return builtin;
}

std::string registry_markdown(const param_registry& registry) {
  std::string out(markdown_begin);
  out +=
      "| Key | Type | Default | Accepted values | Scope | Changeable at run time "
      "| Environment variable | Description |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const auto& spec : registry.all())
    out += markdown_row(spec);
  out += markdown_end;
  return out;
}

}  // namespace strait
