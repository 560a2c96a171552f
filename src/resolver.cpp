// SPDX-License-Identifier: Apache-2.0
#include <strait/config.hpp>
#include <strait/resolver.hpp>

#include "log_internal.hpp"
#include "resolver_internal.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <net/if.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace strait {
namespace {

using tcp = asio::ip::tcp;
using address_list = std::vector<tcp::endpoint>;

std::string ipv6_disabled_message(std::string_view text) {
  return "'" + std::string(text) +
         "' is an IPv6 address but enableIPv6 is 0; set enableIPv6 1 to use IPv6";
}

// ---- configuration -------------------------------------------------------------------------

// The keys the family policy looks at were checked when they were loaded (as a host, an
// endpoint or an IPv6 address), so their text parses.
bool is_ipv6_literal(std::string_view text) {
  const auto parsed = endpoint::parse(text);
  return parsed && parsed->kind() == endpoint::host_kind::ipv6;
}

// A value from a file, the environment or a command line had its warnings reported when it was
// loaded; repeating them would list each one twice at start-up.
bool warned_when_loaded(value_source source) {
  return source == value_source::file || source == value_source::environment ||
         source == value_source::command_line;
}

// Parses the endpoint in `key` with `serverPort` (`default_port`) as its default port and
// reports what is wrong with it to `cfg`. fqdn names this node, whose port is known once it
// listens; any other endpoint must have a port to dial, which serverPort 0 does not give.
std::optional<endpoint> endpoint_from_key(config& cfg, std::string_view key,
                                          std::uint16_t default_port) {
  const std::string& text = cfg.get_string(key);
  auto parsed = endpoint::parse(text, default_port);
  if (!warned_when_loaded(cfg.source_of(key))) {
    for (const auto& warning : parsed.warnings())
      cfg.add_problem(cfg.problem_about(key, config_problem::severity::warning, warning));
  }
  if (!parsed) {
    cfg.add_problem(cfg.problem_about(key, config_problem::severity::error, parsed.message()));
    return std::nullopt;
  }
  if (parsed->port() == 0 && key != "fqdn") {
    cfg.add_problem(cfg.problem_about(
        key, config_problem::severity::error,
        "'" + text + "' has no port, and serverPort is 0 (the node picks a free port), so there " +
            "is no port to dial; write it as host:port"));
    return std::nullopt;
  }
  return std::move(parsed).value();
}

// ---- address literals ----------------------------------------------------------------------

// The interface index of a zone id: the number itself, or the index of the named interface.
// 0 when there is no such interface.
unsigned scope_id_of(const std::string& zone) {
  if (std::all_of(zone.begin(), zone.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (zone.size() > 10) return 0;
    const unsigned long index = std::stoul(zone);
    return index <= 0xffffffffUL ? static_cast<unsigned>(index) : 0;
  }
  return ::if_nametoindex(zone.c_str());
}

result<address_list> literal_addresses(const endpoint& target, family_policy policy) {
  const bool is_v6 = target.kind() == endpoint::host_kind::ipv6;
  if (is_v6 && policy == family_policy::ipv4_only)
    return result<address_list>::failure(errc::address_family_disabled,
                                         ipv6_disabled_message(target.to_string()));

  boost::system::error_code error;
  auto address = asio::ip::make_address(target.host(), error);
  if (error || address.is_v6() != is_v6)
    return result<address_list>::failure(
        errc::invalid_endpoint,
        "'" + target.to_string() + "' is not an address: " + error.message());
  if (is_v6 && !target.zone().empty()) {
    const unsigned scope = scope_id_of(target.zone());
    if (scope == 0)
      return result<address_list>::failure(
          errc::resolve_failed, "cannot use '" + target.to_string() +
                                    "': this host has no network interface '" + target.zone() +
                                    "' (the zone id names the interface of a link-local address)");
    auto v6 = address.to_v6();
    v6.scope_id(scope);
    address = v6;
  }
  return address_list{tcp::endpoint(address, target.port())};
}

// ---- lookup racing a deadline --------------------------------------------------------------

struct race_outcome {
  bool timed_out = false;
  detail::lookup_answer answer;
};

// A lookup and a timer racing to complete one handler. Both sides finish on the same strand;
// the first takes the handler, the second finds it gone and is dropped. Each side holds the
// race by a shared pointer, so a lookup that answers long after the deadline (getaddrinfo
// cannot be interrupted) still finds valid state to be dropped into.
template <class Handler>
class lookup_race : public std::enable_shared_from_this<lookup_race<Handler>> {
 public:
  lookup_race(Handler handler, const asio::any_io_executor& executor)
      : handler_(std::move(handler)),
        executor_(executor),
        strand_(asio::make_strand(executor)),
        timer_(strand_) {}

  void start(const detail::lookup_function& lookup, const std::string& host,
             const std::string& service, family_policy policy, std::chrono::milliseconds deadline) {
    auto self = this->shared_from_this();
    timer_.expires_after(deadline);
    timer_.async_wait([self](boost::system::error_code error) {
      if (error != asio::error::operation_aborted) self->finish(race_outcome{true, {}});
    });
    lookup(executor_, host, service, policy, [self](detail::lookup_answer answer) {
      asio::dispatch(self->strand_, [self, answer = std::move(answer)]() mutable {
        self->finish(race_outcome{false, std::move(answer)});
      });
    });
  }

 private:
  void finish(race_outcome outcome) {
    if (!handler_) return;
    timer_.cancel();
    auto handler = std::move(*handler_);
    handler_.reset();
    asio::post(executor_, [handler = std::move(handler), outcome = std::move(outcome)]() mutable {
      std::move(handler)(std::move(outcome));
    });
  }

  std::optional<Handler> handler_;
  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  asio::steady_timer timer_;
};

asio::awaitable<race_outcome> lookup_within(const asio::any_io_executor& executor,
                                            const detail::lookup_function& lookup,
                                            const std::string& host, const std::string& service,
                                            family_policy policy,
                                            std::chrono::milliseconds deadline) {
  // The arguments are copied into the operation: it starts only when the caller awaits it.
  return asio::async_initiate<decltype(asio::use_awaitable), void(race_outcome)>(
      [](auto handler, const asio::any_io_executor& ex, const detail::lookup_function& lookup_fn,
         const std::string& name, const std::string& port, family_policy families,
         std::chrono::milliseconds limit) {
        using handler_type = decltype(handler);
        auto race = std::make_shared<lookup_race<handler_type>>(std::move(handler), ex);
        race->start(lookup_fn, name, port, families, limit);
      },
      asio::use_awaitable, executor, lookup, host, service, policy, deadline);
}

std::string_view families_asked(family_policy policy) {
  return policy == family_policy::ipv4_only ? "IPv4 only, as enableIPv6 is 0" : "IPv6 and IPv4";
}

result<address_list> addresses_from(const std::string& host, const std::string& service,
                                    family_policy policy, std::chrono::milliseconds deadline,
                                    race_outcome outcome) {
  const std::string what = "cannot resolve '" + host + ":" + service + "': ";
  const std::string asked = std::string(" (asked for ") + std::string(families_asked(policy)) + ")";
  if (outcome.timed_out)
    return result<address_list>::failure(
        errc::resolve_failed,
        what + "no answer within " + std::to_string(deadline.count()) + " ms");
  if (outcome.answer.error)
    return result<address_list>::failure(
        errc::resolve_failed, what + outcome.answer.error.message() +
                                  (policy == family_policy::ipv4_only ? asked : std::string()));

  auto ordered = order_for_connect(std::move(outcome.answer.addresses), policy);
  if (ordered.empty())
    return result<address_list>::failure(errc::resolve_failed,
                                         what + "the answer holds no address" + asked);
  return ordered;
}

void log_connect_order(const std::string& host, const std::string& service,
                       const address_list& ordered) {
  if (!detail::log_enabled(log_level::debug)) return;
  std::string list;
  for (const auto& address : ordered)
    list += detail::cat(list.empty() ? "" : ", ", address);
  detail::log(log_level::debug, "transport", "resolved '", host, ":", service, "' to ", list);
}

}  // namespace

// ---- public interface ----------------------------------------------------------------------

family_policy family_policy_from(const config& cfg) {
  return cfg.get_bool("enableIPv6") ? family_policy::dual_stack : family_policy::ipv4_only;
}

// Only values a user gave are checked: the built-in `serverIPv6 ::` is harmless under
// `enableIPv6 0`, where no IPv6 socket is opened.
void check_family_policy(config& cfg) {
  if (family_policy_from(cfg) == family_policy::dual_stack) return;
  constexpr std::array<std::string_view, 4> keys = {"fqdn", "firstEp", "secondEp", "serverIPv6"};
  for (const std::string_view key : keys) {
    if (!cfg.is_set(key)) continue;
    const std::string& value = cfg.get_string(key);
    if (!is_ipv6_literal(value)) continue;
    cfg.add_problem(
        cfg.problem_about(key, config_problem::severity::error, ipv6_disabled_message(value)));
  }
}

std::vector<endpoint> cluster_endpoints(config& cfg) {
  const auto port = static_cast<std::uint16_t>(cfg.get_int("serverPort"));
  std::vector<endpoint> endpoints;

  // fqdn is never empty (the registry refuses an empty host), so one of the two names a node.
  const bool first_given = !cfg.get_string("firstEp").empty();
  if (auto first = endpoint_from_key(cfg, first_given ? "firstEp" : "fqdn", port))
    endpoints.push_back(std::move(*first));

  if (!cfg.get_string("secondEp").empty()) {
    if (auto second = endpoint_from_key(cfg, "secondEp", port))
      endpoints.push_back(std::move(*second));
  }
  return endpoints;
}

asio::awaitable<result<std::vector<tcp::endpoint>>> resolve(endpoint target, family_policy policy,
                                                            std::chrono::milliseconds deadline) {
  return detail::resolve_with(std::move(target), policy, deadline, detail::system_lookup);
}

// RFC 8305 section 4: the system's order (RFC 6724) is kept within each family, and the
// families alternate so that a broken family costs one attempt, not all of them.
std::vector<tcp::endpoint> order_for_connect(std::vector<tcp::endpoint> addresses,
                                             family_policy policy) {
  std::vector<tcp::endpoint> v6, v4;
  for (const auto& address : addresses) {
    const bool is_v6 = address.address().is_v6();
    if (is_v6 && policy == family_policy::ipv4_only) continue;
    auto& family = is_v6 ? v6 : v4;
    if (std::find(family.begin(), family.end(), address) == family.end()) family.push_back(address);
  }

  std::vector<tcp::endpoint> ordered;
  ordered.reserve(v6.size() + v4.size());
  for (std::size_t i = 0; i < std::max(v6.size(), v4.size()); ++i) {
    if (i < v6.size()) ordered.push_back(v6[i]);
    if (i < v4.size()) ordered.push_back(v4[i]);
  }
  return ordered;
}

namespace detail {

// No AI_ADDRCONFIG: it hides ::1 on a host whose only IPv6 address is loopback, and the
// connector already moves on quickly from a family the host cannot reach.
// TODO(someday): asio runs every lookup of an execution context on one background thread,
// so a lookup stuck in getaddrinfo delays the lookups queued behind it (secondEp after a stuck
// firstEp) until it returns; each still fails at its own deadline. A lookup thread per request
// would remove the queueing.
void system_lookup(const asio::any_io_executor& executor, const std::string& host,
                   const std::string& service, family_policy policy, lookup_done done) {
  auto resolver = std::make_shared<tcp::resolver>(executor);
  auto on_answer = [resolver, done = std::move(done)](boost::system::error_code error,
                                                      const tcp::resolver::results_type& results) {
    lookup_answer answer{error, {}};
    for (const auto& entry : results)
      answer.addresses.push_back(entry.endpoint());
    done(std::move(answer));
  };
  constexpr auto flags = tcp::resolver::numeric_service;
  if (policy == family_policy::ipv4_only)
    resolver->async_resolve(tcp::v4(), host, service, flags, std::move(on_answer));
  else
    resolver->async_resolve(host, service, flags, std::move(on_answer));
}

asio::awaitable<result<std::vector<tcp::endpoint>>> resolve_with(endpoint target,
                                                                 family_policy policy,
                                                                 std::chrono::milliseconds deadline,
                                                                 lookup_function lookup) {
  if (target.is_address()) co_return literal_addresses(target, policy);

  const auto executor = co_await asio::this_coro::executor;
  const std::string host = target.host_for_resolver();
  const std::string service = std::to_string(target.port());
  auto outcome = co_await lookup_within(executor, lookup, host, service, policy, deadline);

  auto found = addresses_from(host, service, policy, deadline, std::move(outcome));
  if (found) log_connect_order(host, service, *found);
  co_return found;
}

}  // namespace detail
}  // namespace strait
