// SPDX-License-Identifier: Apache-2.0
// The transport stage on loopback: the listening sockets of a node, and the Happy Eyeballs race
// of a client. Connect timeouts need an address that never answers, which loopback cannot
// give; the network-namespace tests cover them.
#include "loopback.hpp"

#include <strait/acceptor.hpp>
#include <strait/connector.hpp>
#include <strait/error.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

namespace strait {
namespace {

using namespace test_support;
using asio::ip::tcp;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

tcp::endpoint address(std::string_view host, std::uint16_t port) {
  return tcp::endpoint(asio::ip::make_address(host), port);
}

// What a client dialling one address saw, and what the listening socket accepted.
struct dial_outcome {
  boost::system::error_code connect_error;
  boost::system::error_code accept_error;
  tcp::endpoint accepted_from;
};

// Dials `target` and, at the same time, accepts once on `listening`; both bounded in time. A
// refused dial leaves the accept pending, and it is cancelled.
dial_outcome dial(asio::io_context& context, tcp::acceptor& listening, tcp::endpoint target) {
  dial_outcome seen;
  seen.accept_error = asio::error::operation_aborted;
  tcp::socket client(context);
  tcp::socket accepted(context);
  bool connected = false;
  listening.async_accept(accepted, [&](boost::system::error_code ec) {
    seen.accept_error = ec;
    if (!ec) seen.accepted_from = accepted.remote_endpoint(ec);
  });
  client.async_connect(target, [&](boost::system::error_code ec) {
    seen.connect_error = ec;
    connected = true;
    if (ec) listening.cancel();
  });
  context.restart();
  context.run_for(5s);
  if (!connected) {
    seen.connect_error = asio::error::timed_out;
    client.close();
    listening.cancel();
    context.restart();
    context.run();
  }
  return seen;
}

result<acceptor> open_acceptor(asio::io_context& context, listen_options options) {
  return acceptor::open(context.get_executor(), options);
}

// --- Acceptor ---------------------------------------------------------------------------------

TEST(Acceptor, DualStackWildcardAcceptsAnIpv4LoopbackClient) {
  asio::io_context context;
  auto bound = open_acceptor(context, {.ipv6_address = "::", .port = 0});
  ASSERT_TRUE(bound) << bound.message();
  ASSERT_EQ(bound->sockets().size(), 1u);

  auto seen = dial(context, bound->sockets()[0], address("127.0.0.1", bound->port()));
  EXPECT_FALSE(seen.connect_error) << seen.connect_error.message();
  ASSERT_FALSE(seen.accept_error) << seen.accept_error.message();
  // An IPv4 client of an IPv6 socket appears as an IPv4-mapped address.
  ASSERT_TRUE(seen.accepted_from.address().is_v6());
  EXPECT_TRUE(seen.accepted_from.address().to_v6().is_v4_mapped());
}

TEST(Acceptor, Ipv6OnlyWildcardRefusesAnIpv4Client) {
  asio::io_context context;
  auto bound = open_acceptor(context, {.ipv6_address = "::", .port = 0, .ipv6_only = true});
  ASSERT_TRUE(bound) << bound.message();
  ASSERT_EQ(bound->sockets().size(), 1u);

  auto refused = dial(context, bound->sockets()[0], address("127.0.0.1", bound->port()));
  EXPECT_EQ(refused.connect_error, asio::error::connection_refused)
      << refused.connect_error.message();
  auto served = dial(context, bound->sockets()[0], address("::1", bound->port()));
  EXPECT_FALSE(served.connect_error) << served.connect_error.message();
  EXPECT_FALSE(served.accept_error) << served.accept_error.message();
}

TEST(Acceptor, PortZeroIsSharedByASpecificIpv6SocketAndTheIpv4Socket) {
  asio::io_context context;
  auto bound =
      open_acceptor(context, {.ipv6_address = "::1", .ipv6_address_explicit = true, .port = 0});
  ASSERT_TRUE(bound) << bound.message();
  ASSERT_EQ(bound->sockets().size(), 2u);
  ASSERT_NE(bound->port(), 0);

  auto listed = bound->local_endpoints();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0], endpoint::from_address("::1", bound->port()));
  EXPECT_EQ(listed[1], endpoint::from_address("0.0.0.0", bound->port()));

  auto over_ipv6 = dial(context, bound->sockets()[0], address("::1", bound->port()));
  EXPECT_FALSE(over_ipv6.accept_error) << over_ipv6.accept_error.message();
  auto over_ipv4 = dial(context, bound->sockets()[1], address("127.0.0.1", bound->port()));
  EXPECT_FALSE(over_ipv4.accept_error) << over_ipv4.accept_error.message();
}

TEST(Acceptor, AddressInUseFailsNamingTheAddress) {
  asio::io_context context;
  listen_options options{
      .ipv6_address = "::1", .ipv6_address_explicit = true, .port = 0, .ipv6_only = true};
  auto first = open_acceptor(context, options);
  ASSERT_TRUE(first) << first.message();

  options.port = first->port();
  auto second = open_acceptor(context, options);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), std::errc::address_in_use) << second.message();
  auto shown = endpoint::from_address("::1", first->port()).to_string();
  EXPECT_TRUE(contains(second.message(), shown)) << second.message();
  EXPECT_TRUE(contains(second.message(), "serverPort")) << second.message();
}

struct bad_listen_case {
  std::string ipv6_address;
  std::error_condition expected;
  std::vector<std::string> text_parts;
};

TEST(Acceptor, ExplicitServerIpv6ThatCannotBeBoundFailsNamingIt) {
  const std::error_condition invalid_configuration(static_cast<int>(errc::invalid_configuration),
                                                   strait_category());
  const std::vector<bad_listen_case> cases = {
      // A documentation address: never one of this host's.
      {"2001:db8::1",
       std::make_error_condition(std::errc::address_not_available),
       {"2001:db8::1", "address of this host"}},
      {"localhost", invalid_configuration, {"'localhost'", "IPv6"}},
      {"127.0.0.1", invalid_configuration, {"'127.0.0.1'"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("serverIPv6 " + c.ipv6_address);
    asio::io_context context;
    auto bound = open_acceptor(
        context, {.ipv6_address = c.ipv6_address, .ipv6_address_explicit = true, .port = 0});
    ASSERT_FALSE(bound);
    EXPECT_TRUE(bound.code() == c.expected) << bound.code() << ": " << bound.message();
    for (const auto& part : c.text_parts)
      EXPECT_TRUE(contains(bound.message(), part)) << bound.message();
  }
}

// --- Happy Eyeballs ---------------------------------------------------------------------------

// result<T> has no empty state, which co_spawn needs; optional gives it one.
asio::awaitable<std::optional<result<tcp::socket>>> race_as_optional(
    endpoint target, std::vector<tcp::endpoint> addresses, connect_options options) {
  co_return co_await race_connect(target, std::move(addresses), options);
}

std::optional<result<tcp::socket>> race(asio::io_context& context, const endpoint& target,
                                        std::vector<tcp::endpoint> addresses) {
  connect_options options;
  auto pending = asio::co_spawn(context, race_as_optional(target, std::move(addresses), options),
                                asio::use_future);
  context.restart();
  context.run_for(options.connect_timeout + 5s);
  if (pending.wait_for(0s) != std::future_status::ready) return std::nullopt;
  return pending.get();
}

TEST(RaceConnect, RefusedFirstAddressFallsThroughToTheLiveSecond) {
  asio::io_context context;
  auto bound = open_acceptor(
      context,
      {.ipv6_address = "::1", .ipv6_address_explicit = true, .port = 0, .ipv6_only = true});
  ASSERT_TRUE(bound) << bound.message();
  auto refused = address("127.0.0.1", refused_port(loopback::ipv4));
  auto live = address("::1", bound->port());

  auto won = race(context, endpoint::from_address("localhost", bound->port()), {refused, live});
  ASSERT_TRUE(won) << "the race did not end";
  ASSERT_TRUE(*won) << won->message();
  boost::system::error_code ec;
  EXPECT_EQ((*won)->remote_endpoint(ec), live);
}

TEST(RaceConnect, EveryAddressRefusedFailsWithConnectFailedListingEach) {
  asio::io_context context;
  auto first = address("::1", refused_port(loopback::ipv6));
  auto second = address("127.0.0.1", refused_port(loopback::ipv4));
  auto target = endpoint::from_address("localhost", 6030);

  auto lost = race(context, target, {first, second});
  ASSERT_TRUE(lost) << "the race did not end";
  ASSERT_FALSE(*lost);
  EXPECT_EQ(lost->code(), errc::connect_failed) << lost->message();
  for (const auto& tried : {first, second}) {
    auto shown = endpoint::from_address(tried.address().to_string(), tried.port()).to_string();
    EXPECT_TRUE(contains(lost->message(), shown)) << lost->message();
  }
  EXPECT_TRUE(contains(lost->message(), target.to_string())) << lost->message();
}

}  // namespace
}  // namespace strait
