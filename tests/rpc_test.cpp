// SPDX-License-Identifier: Apache-2.0
// The RPC layer end to end: real nodes and clients on 127.0.0.1 and [::1], ephemeral ports,
// and hand-driven peers for what a strait client never sends.
#include "loopback.hpp"

#include <strait/error.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include <set>
#include <thread>

namespace strait {
namespace {

using namespace test_support;
using clock = std::chrono::steady_clock;

constexpr std::uint32_t echo_type = 1;
constexpr std::uint32_t held_type = 2;

void echo(std::string request, responder answer) {
  answer.reply(std::move(request));
}

std::string describe(const outcome& done) {
  if (!done.completed) return "the call did not complete";
  return done.code.message() + ": " + done.answer.detail;
}

std::string call_body(std::size_t client, std::size_t call) {
  return "client " + std::to_string(client) + " call " + std::to_string(call);
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// --- Round trips ------------------------------------------------------------------------------

struct round_trip_case {
  loopback family;
  link_mode mode;
  std::string cert_dir;
  // The client certificate's subject as the node's handler sees it; empty for plain.
  std::string client_subject;
};

TEST(RpcCall, RoundTripsPlainAndMutualTlsOverBothLoopbackFamilies) {
  const std::vector<round_trip_case> cases = {
      {loopback::ipv4, link_mode::plain, test_certs(), ""},
      {loopback::ipv6, link_mode::plain, test_certs(), ""},
      {loopback::ipv4, link_mode::mutual_tls, test_certs(), "CN=strait-client"},
      {loopback::ipv6, link_mode::mutual_tls, test_certs(), "CN=strait-client"},
      {loopback::ipv4, link_mode::mutual_tls, seed_certs(), "CN=Client"},
      {loopback::ipv6, link_mode::mutual_tls, seed_certs(), "CN=Client"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.mode)) + " over " + std::string(address_of(c.family)) +
                 " with " + c.cert_dir);
    std::mutex mutex;
    call_context seen;
    test_node node({.family = c.family, .mode = c.mode, .cert_dir = c.cert_dir});
    node.handle(echo_type, [&](std::string request, responder answer) {
      {
        std::lock_guard lock(mutex);
        seen = answer.context();
      }
      answer.reply("echo: " + request);
    });
    ASSERT_TRUE(node.start());

    test_client caller({.endpoints = {node.where()}, .mode = c.mode, .cert_dir = c.cert_dir});
    auto done = caller.call(echo_type, "ping");
    ASSERT_TRUE(done.completed);
    ASSERT_FALSE(done.code) << describe(done);
    EXPECT_EQ(done.answer.body, "echo: ping");
    EXPECT_EQ(done.answer.node, node.where());

    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.tls, c.mode == link_mode::mutual_tls);
    EXPECT_EQ(seen.identity.subject, c.client_subject);
    EXPECT_EQ(seen.peer.host(), address_of(c.family));
    EXPECT_EQ(seen.message_type, echo_type);
  }
}

TEST(RpcCall, TenThousandPipelinedCallsOnOneConnectionEachCompleteOnceWithTheirOwnAnswer) {
  constexpr std::size_t calls = 10000;
  std::atomic<std::size_t> handled{0};
  std::mutex mutex;
  std::set<std::uint64_t> connections;
  test_node node;
  node.handle(echo_type, [&](std::string request, responder answer) {
    ++handled;
    {
      std::lock_guard lock(mutex);
      connections.insert(answer.context().connection_id);
    }
    answer.reply("answer to " + request);
  });
  ASSERT_TRUE(node.start());

  connection_limits limits;
  limits.max_calls_in_flight = calls;
  test_client caller({.endpoints = {node.where()}, .limits = limits, .call_timeout = 120s});
  std::vector<std::future<outcome>> pending;
  pending.reserve(calls);
  for (std::size_t i = 0; i < calls; ++i)
    pending.push_back(caller.start(echo_type, "call " + std::to_string(i)));

  std::size_t wrong = 0;
  for (std::size_t i = 0; i < calls; ++i) {
    auto done = await(pending[i], 120s);
    ASSERT_TRUE(done.completed) << "call " << i << " never completed";
    bool right = !done.code && done.answer.body == "answer to call " + std::to_string(i);
    // The first few wrong answers say enough.
    if (!right && ++wrong <= 5) {
      ADD_FAILURE() << "call " << i << ": " << describe(done) << " body '" << done.answer.body
                    << "'";
    }
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(caller.completions(), calls);
  EXPECT_EQ(handled.load(), calls);
  std::lock_guard lock(mutex);
  EXPECT_EQ(connections.size(), 1u);
}

constexpr std::uint32_t whoami_type = 4;

// Answers with the id of the connection the call came on.
void whoami(std::string, responder answer) {
  answer.reply(std::to_string(answer.context().connection_id));
}

// Calls until the client has used `count` connections; false when `within` passes first.
bool uses_connections(test_client& caller, std::size_t count, milliseconds within = 5s) {
  std::set<std::string> seen;
  return eventually(
      [&] {
        auto done = caller.call(whoami_type, "");
        if (!done.code) seen.insert(done.answer.body);
        return seen.size() >= count;
      },
      within);
}

TEST(RpcCall, ManyClientsWithSeveralConnectionsEachGetTheirOwnAnswers) {
  constexpr std::size_t clients = 6;
  constexpr std::size_t calls_per_client = 500;
  std::mutex mutex;
  std::set<std::uint64_t> connections;
  test_node node({}, 2);
  node.handle(whoami_type, whoami);
  node.handle(echo_type, [&](std::string request, responder answer) {
    {
      std::lock_guard lock(mutex);
      connections.insert(answer.context().connection_id);
    }
    answer.reply(std::move(request));
  });
  ASSERT_TRUE(node.start());

  // A client opens its connections as calls come, so each is warmed up until it uses both.
  std::vector<std::unique_ptr<test_client>> callers;
  for (std::size_t k = 0; k < clients; ++k) {
    callers.push_back(std::make_unique<test_client>(
        client_setup{.endpoints = {node.where()}, .connections_per_endpoint = 2}, 2));
    ASSERT_TRUE(uses_connections(*callers.back(), 2)) << "client " << k;
  }
  EXPECT_EQ(node.server().connection_count(), 2 * clients);

  std::vector<std::vector<std::future<outcome>>> pending(clients);
  for (std::size_t i = 0; i < calls_per_client; ++i) {
    for (std::size_t k = 0; k < clients; ++k)
      pending[k].push_back(callers[k]->start(echo_type, call_body(k, i)));
  }
  std::size_t wrong = 0;
  for (std::size_t k = 0; k < clients; ++k) {
    for (std::size_t i = 0; i < calls_per_client; ++i) {
      auto done = await(pending[k][i], 60s);
      ASSERT_TRUE(done.completed) << "client " << k << " call " << i;
      if (done.code || done.answer.body != call_body(k, i)) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0u);
  std::lock_guard lock(mutex);
  EXPECT_EQ(connections.size(), 2 * clients) << "calls were not spread over the connections";
}

TEST(RpcCall, CallsPastMaxCallsInFlightFailAtOnceWithOverloaded) {
  test_node node;
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());
  connection_limits limits;
  limits.max_calls_in_flight = 2;
  test_client caller({.endpoints = {node.where()}, .limits = limits});

  auto first = caller.start(held_type, "one");
  auto second = caller.start(held_type, "two");
  ASSERT_TRUE(held.wait_for_arrivals(2));
  auto third = caller.call(held_type, "three");
  ASSERT_TRUE(third.completed);
  EXPECT_EQ(third.code, errc::overloaded) << describe(third);
  EXPECT_TRUE(contains(third.answer.detail, "maxCallsInFlight 2")) << third.answer.detail;

  held.reply_all("done");
  EXPECT_FALSE(await(first).code);
  EXPECT_FALSE(await(second).code);
  EXPECT_EQ(held.arrivals(), 2u);
}

TEST(RpcCall, ClosingTheClientEndsPendingAndLaterCallsWithShuttingDown) {
  test_node node;
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  auto pending = caller.start(held_type, "pending");
  ASSERT_TRUE(held.wait_for_arrivals(1));
  caller.get().close();
  auto ended = await(pending);
  ASSERT_TRUE(ended.completed);
  EXPECT_EQ(ended.code, errc::shutting_down) << describe(ended);
  auto later = caller.call(held_type, "later");
  ASSERT_TRUE(later.completed);
  EXPECT_EQ(later.code, errc::shutting_down) << describe(later);
  EXPECT_TRUE(node.wait_for_connections(0));
}

TEST(RpcCall, BodiesOfEverySizeRoundTripIntactWhenPipelined) {
  // Around the read buffer (16 KiB) and the size from which TLS writes a body uncopied (64 KiB).
  const std::vector<std::size_t> sizes = {0,     1,     27,    28,    16383,   16384,
                                          16385, 65535, 65536, 65537, 1 << 20, 3 << 20};
  for (auto mode : {link_mode::plain, link_mode::mutual_tls}) {
    SCOPED_TRACE(to_string(mode));
    test_node node({.mode = mode});
    node.handle(echo_type, echo);
    ASSERT_TRUE(node.start());
    test_client caller({.endpoints = {node.where()}, .mode = mode});

    std::vector<std::string> bodies;
    for (std::size_t round = 0; round < 3; ++round) {
      for (auto size : sizes) {
        std::string body(size, '\0');
        for (std::size_t i = 0; i < size; ++i)
          body[i] = static_cast<char>('a' + (i * 7 + size + round) % 26);
        bodies.push_back(std::move(body));
      }
    }
    std::vector<std::future<outcome>> pending;
    for (const auto& body : bodies)
      pending.push_back(caller.start(echo_type, body));
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      auto done = await(pending[i], 60s);
      ASSERT_TRUE(done.completed);
      ASSERT_FALSE(done.code) << describe(done);
      EXPECT_TRUE(done.answer.body == bodies[i]) << "body of " << bodies[i].size() << " bytes";
    }
  }
}

TEST(RpcCall, CompletionTokensYieldTheErrorAndReplyWithoutThrowing) {
  test_node node;
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  auto [future_ec, future_reply] =
      caller.get().async_call(echo_type, "future", asio::use_future).get();
  EXPECT_FALSE(future_ec) << future_reply.detail;
  EXPECT_EQ(future_reply.body, "future");

  // A coroutine on an io_context of its own: the completion comes back to that context.
  asio::io_context own;
  auto coroutine = [&]() -> asio::awaitable<std::pair<std::error_code, std::string>> {
    auto [ok_ec, ok] = co_await caller.get().async_call(echo_type, "awaited", asio::use_awaitable);
    EXPECT_TRUE(own.get_executor().running_in_this_thread());
    auto [bad_ec, bad] = co_await caller.get().async_call(99, "unknown", asio::use_awaitable);
    co_return std::pair{bad_ec, ok_ec ? ok_ec.message() : ok.body};
  };
  auto pending = asio::co_spawn(own, coroutine(), asio::use_future);
  own.run_for(15s);
  ASSERT_EQ(pending.wait_for(0s), std::future_status::ready);
  auto [bad_ec, ok_body] = pending.get();
  EXPECT_EQ(ok_body, "awaited");
  EXPECT_EQ(bad_ec, errc::unknown_message_type);
}

// --- Deadlines and cancellation ---------------------------------------------------------------

TEST(RpcCall, DeadlineEndsACallTheHandlerHoldsAndTheLateAnswerIsDropped) {
  test_node node;
  auto& held = node.hold(held_type);
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  auto late = caller.call(held_type, "slow", {.timeout = 200ms});
  ASSERT_TRUE(late.completed);
  EXPECT_EQ(late.code, errc::call_timeout) << describe(late);
  EXPECT_TRUE(contains(late.answer.detail, "200 ms")) << late.answer.detail;
  ASSERT_TRUE(held.wait_for_arrivals(1));
  held.reply_all("too late");

  // The late answer reaches a client that no longer knows the call; the connection carries on.
  auto next = caller.call(echo_type, "after");
  ASSERT_TRUE(next.completed);
  EXPECT_FALSE(next.code) << describe(next);
  EXPECT_EQ(next.answer.body, "after");
  EXPECT_EQ(held.arrivals(), 1u);
  EXPECT_EQ(caller.completions(), 2u);
  EXPECT_EQ(node.server().connection_count(), 1u);
}

TEST(RpcCall, BoundCancellationSlotEndsAPendingCallWithCallCancelled) {
  auto ended = std::make_shared<std::promise<outcome>>();
  test_node node;
  auto& held = node.hold(held_type);
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  asio::cancellation_signal signal;
  caller.get().async_call(
      held_type, "wait",
      asio::bind_cancellation_slot(signal.slot(), [ended](std::error_code ec, reply r) {
        ended->set_value({true, ec, std::move(r)});
      }));
  ASSERT_TRUE(held.wait_for_arrivals(1));
  signal.emit(asio::cancellation_type::terminal);

  auto pending = ended->get_future();
  auto done = await(pending);
  ASSERT_TRUE(done.completed);
  EXPECT_EQ(done.code, errc::call_cancelled) << describe(done);

  held.reply_all("nobody waits for this");
  auto next = caller.call(echo_type, "still here");
  EXPECT_FALSE(next.code) << describe(next);
  EXPECT_EQ(next.answer.body, "still here");
}

TEST(RpcCall, CancellationEmittedAsSoonAsTheCallStartsStillCancelsIt) {
  auto ended = std::make_shared<std::promise<outcome>>();
  test_node node;
  node.hold(held_type);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  asio::cancellation_signal signal;
  caller.get().async_call(
      held_type, "cancel me at once",
      asio::bind_cancellation_slot(signal.slot(), [ended](std::error_code ec, reply r) {
        ended->set_value({true, ec, std::move(r)});
      }));
  // An operation connects to its slot when it starts, so this signal is not lost.
  signal.emit(asio::cancellation_type::terminal);

  auto pending = ended->get_future();
  auto done = await(pending, 5s);
  ASSERT_TRUE(done.completed) << "the cancellation was lost";
  EXPECT_EQ(done.code, errc::call_cancelled) << describe(done);
}

// --- Lost nodes and failover ------------------------------------------------------------------

TEST(RpcFailure, NodeStoppedMidCallEndsEveryPendingCallWithLostAfterOrBeforeSend) {
  node_setup setup;
  setup.limits.max_calls_in_flight = 4;
  setup.limits.max_message_size = 1024 * 1024 * 1024;
  test_node node(setup);
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());

  // A body the kernel cannot hold for a node that has stopped reading.
  const std::size_t stuck_size = kernel_buffer_bytes() + 1024 * 1024;
  connection_limits limits;
  limits.max_message_size = setup.limits.max_message_size;
  limits.max_send_queue_bytes = 4 * stuck_size;
  test_client caller({.endpoints = {node.where()}, .limits = limits});

  // Four calls reach the handler and hold the node at maxCallsInFlight: it reads no more.
  std::vector<std::future<outcome>> seen;
  for (int i = 0; i < 4; ++i)
    seen.push_back(caller.start(held_type, "seen"));
  ASSERT_TRUE(held.wait_for_arrivals(4));
  // This one is being written when the node stops, the next ones wait behind it.
  auto stuck = caller.start(held_type, std::string(stuck_size, 'x'));
  caller.settle();
  std::vector<std::future<outcome>> unsent;
  for (int i = 0; i < 3; ++i)
    unsent.push_back(caller.start(held_type, "unsent"));
  caller.settle();

  node.server().stop();
  for (auto& pending : seen) {
    auto done = await(pending);
    ASSERT_TRUE(done.completed);
    EXPECT_EQ(done.code, errc::lost_after_send) << describe(done);
  }
  auto partly_written = await(stuck);
  ASSERT_TRUE(partly_written.completed);
  EXPECT_EQ(partly_written.code, errc::lost_after_send) << describe(partly_written);
  for (auto& pending : unsent) {
    auto done = await(pending);
    ASSERT_TRUE(done.completed);
    EXPECT_EQ(done.code, errc::lost_before_send) << describe(done);
  }
  EXPECT_EQ(held.arrivals(), 4u);
}

TEST(RpcFailure, NodeWhoseThreadsEndMidCallEndsEveryPendingCallWithLostAfterSend) {
  auto node = std::make_unique<test_node>();
  auto& held = node->hold(held_type);
  ASSERT_TRUE(node->start());
  test_client caller({.endpoints = {node->where()}});

  std::vector<std::future<outcome>> pending;
  for (int i = 0; i < 3; ++i)
    pending.push_back(caller.start(held_type, "in flight"));
  ASSERT_TRUE(held.wait_for_arrivals(3));

  // Its threads stop and its sockets close, as when the process dies.
  node.reset();
  for (auto& call : pending) {
    auto done = await(call);
    ASSERT_TRUE(done.completed);
    EXPECT_EQ(done.code, errc::lost_after_send) << describe(done);
  }
}

TEST(RpcFailover, CallsReachTheSecondEndpointWhenTheFirstRefuses) {
  test_node node;
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  auto dead = loopback_endpoint(loopback::ipv4, refused_port(loopback::ipv4));
  test_client caller({.endpoints = {dead, node.where()}});

  for (int i = 0; i < 3; ++i) {
    auto done = caller.call(echo_type, "via the second");
    ASSERT_TRUE(done.completed);
    EXPECT_FALSE(done.code) << describe(done);
    EXPECT_EQ(done.answer.node, node.where());
  }
}

TEST(RpcFailover, CallsMoveToTheSecondEndpointWhenTheFirstNodeStops) {
  auto first = std::make_unique<test_node>();
  first->handle(echo_type, echo);
  ASSERT_TRUE(first->start());
  test_node second({.family = loopback::ipv6});
  second.handle(echo_type, echo);
  ASSERT_TRUE(second.start());
  const auto first_endpoint = first->where();
  test_client caller({.endpoints = {first_endpoint, second.where()}});

  auto before = caller.call(echo_type, "first");
  ASSERT_FALSE(before.code) << describe(before);
  EXPECT_EQ(before.answer.node, first_endpoint);

  first.reset();
  auto after = caller.call(echo_type, "second");
  // A call placed before the client noticed the loss was never written: safe to retry.
  if (after.code == errc::lost_before_send) after = caller.call(echo_type, "second");
  ASSERT_TRUE(after.completed);
  EXPECT_FALSE(after.code) << describe(after);
  EXPECT_EQ(after.answer.node, second.where());
}

TEST(RpcFailover, EveryEndpointRefusingFailsWithConnectFailedNamingEach) {
  auto first = loopback_endpoint(loopback::ipv4, refused_port(loopback::ipv4));
  auto second = loopback_endpoint(loopback::ipv6, refused_port(loopback::ipv6));
  test_client caller({.endpoints = {first, second}});

  auto done = caller.call(echo_type, "nowhere");
  ASSERT_TRUE(done.completed);
  EXPECT_EQ(done.code, errc::connect_failed) << describe(done);
  EXPECT_TRUE(contains(done.answer.detail, first.to_string())) << done.answer.detail;
  EXPECT_TRUE(contains(done.answer.detail, second.to_string())) << done.answer.detail;
}

// A connect that fails without waiting for the network (here a zone that names no interface)
// used to fail before the call was queued, leaving the call to its deadline.
TEST(RpcFailover, ConnectThatFailsAtOnceFailsTheCallAtOnceWithItsCause) {
  auto nowhere = endpoint::parse("[fe80::1%strait-no-such-if]:6030");
  ASSERT_TRUE(nowhere) << nowhere.message();
  test_client caller({.endpoints = {*nowhere}, .call_timeout = 60s});

  auto started = std::chrono::steady_clock::now();
  auto done = caller.call(echo_type, "anyone?", {}, 10s);
  ASSERT_TRUE(done.completed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the call waited for its deadline";
  EXPECT_EQ(done.code, errc::resolve_failed) << describe(done);
  EXPECT_TRUE(contains(done.answer.detail, "strait-no-such-if")) << done.answer.detail;
}

TEST(RpcFailover, CallsWhileEveryEndpointBacksOffFailAtOnceWithTheLastError) {
  auto dead = loopback_endpoint(loopback::ipv4, refused_port(loopback::ipv4));
  test_client caller({.endpoints = {dead}, .call_timeout = 60s, .reconnect_delay = 30s});

  auto first = caller.call(echo_type, "one", {}, 10s);
  ASSERT_TRUE(first.completed);
  EXPECT_EQ(first.code, errc::connect_failed) << describe(first);

  auto started = std::chrono::steady_clock::now();
  auto again = caller.call(echo_type, "two", {}, 10s);
  ASSERT_TRUE(again.completed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "the call waited out the backoff";
  EXPECT_EQ(again.code, errc::connect_failed) << describe(again);
  EXPECT_TRUE(contains(again.answer.detail, "not retried for another")) << again.answer.detail;
}

TEST(RpcKeepAlive, CallToANodeThatGoesSilentEndsWithLostAfterSend) {
  silent_node node;
  connection_limits limits;
  limits.keep_alive_interval = 100ms;
  limits.dead_peer_timeout = 300ms;
  test_client caller({.endpoints = {node.where()}, .limits = limits, .call_timeout = 60s});

  auto done = caller.call(echo_type, "anyone?", {}, 10s);
  ASSERT_TRUE(done.completed) << "the call waited for a node that had gone silent";
  EXPECT_EQ(done.code, errc::lost_after_send) << describe(done);
  EXPECT_TRUE(contains(done.answer.detail, "deadPeerTimeoutMs")) << done.answer.detail;
}

// --- Node answers that end a call -------------------------------------------------------------

TEST(RpcLimits, OversizedRequestEndsItsCallAndTheNodeKeepsServingOthers) {
  std::atomic<int> handled{0};
  node_setup setup;
  setup.limits.max_message_size = 64 * 1024;
  test_node node(setup);
  node.handle(echo_type, [&](std::string request, responder answer) {
    ++handled;
    answer.reply(std::move(request));
  });
  ASSERT_TRUE(node.start());

  test_client sender({.endpoints = {node.where()}});
  auto big = sender.call(echo_type, std::string(1024 * 1024, 'x'));
  ASSERT_TRUE(big.completed);
  EXPECT_TRUE(big.code == errc::message_too_large || big.code == errc::lost_after_send)
      << describe(big);
  EXPECT_EQ(handled.load(), 0);

  test_client other({.endpoints = {node.where()}});
  auto small = other.call(echo_type, "small");
  EXPECT_FALSE(small.code) << describe(small);
  // The sender's next call goes out on a new connection.
  auto again = sender.call(echo_type, "small again");
  EXPECT_FALSE(again.code) << describe(again);
  EXPECT_EQ(handled.load(), 2);
}

TEST(RpcLimits, RequestOverTheClientsMaxMessageSizeFailsAloneWithoutBeingSent) {
  connection_limits limits;
  limits.max_message_size = 64 * 1024;
  node_setup setup;
  setup.limits = limits;
  test_node node(setup);
  auto& held = node.hold(held_type);
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}, .limits = limits});

  auto in_flight = caller.start(held_type, "in flight");
  ASSERT_TRUE(held.wait_for_arrivals(1));
  auto big = caller.call(echo_type, std::string(limits.max_message_size + 1, 'x'));
  ASSERT_TRUE(big.completed);
  EXPECT_EQ(big.code, errc::message_too_large) << describe(big);
  EXPECT_TRUE(contains(big.answer.detail, "65537")) << big.answer.detail;
  EXPECT_TRUE(contains(big.answer.detail, "maxMessageSize 65536")) << big.answer.detail;

  // The call already on the connection is not lost with it.
  held.reply_all("fine");
  auto done = await(in_flight);
  ASSERT_TRUE(done.completed);
  EXPECT_FALSE(done.code) << describe(done);
  EXPECT_EQ(done.answer.body, "fine");
  EXPECT_EQ(node.server().connection_count(), 1u);
}

TEST(RpcLimits, ResponseOverTheNodesMaxMessageSizeFailsThatCallOnly) {
  constexpr std::uint32_t big_answer_type = 3;
  connection_limits limits;
  limits.max_message_size = 64 * 1024;
  node_setup setup;
  setup.limits = limits;
  test_node node(setup);
  node.handle(big_answer_type, [&](std::string, responder answer) {
    answer.reply(std::string(limits.max_message_size + 1, 'a'));
  });
  node.handle(echo_type, [](std::string, responder answer) {
    answer.reply(std::to_string(answer.context().connection_id));
  });
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}, .limits = limits});

  auto before = caller.call(echo_type, "");
  ASSERT_FALSE(before.code) << describe(before);
  auto big = caller.call(big_answer_type, "");
  ASSERT_TRUE(big.completed);
  EXPECT_EQ(big.code, errc::message_too_large) << describe(big);
  EXPECT_TRUE(contains(big.answer.detail, "maxMessageSize 65536")) << big.answer.detail;
  auto after = caller.call(echo_type, "");
  ASSERT_FALSE(after.code) << describe(after);
  EXPECT_EQ(after.answer.body, before.answer.body) << "the connection was replaced";
}

TEST(RpcCall, UnknownMessageTypeFailsThatCallAndTheConnectionStaysUsable) {
  test_node node;
  node.handle(echo_type, [](std::string, responder answer) {
    answer.reply(std::to_string(answer.context().connection_id));
  });
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  auto before = caller.call(echo_type, "");
  ASSERT_FALSE(before.code) << describe(before);
  auto unknown = caller.call(99, "anyone?");
  ASSERT_TRUE(unknown.completed);
  EXPECT_EQ(unknown.code, errc::unknown_message_type) << describe(unknown);
  EXPECT_TRUE(contains(unknown.answer.detail, "99")) << unknown.answer.detail;
  auto after = caller.call(echo_type, "");
  ASSERT_FALSE(after.code) << describe(after);
  EXPECT_EQ(after.answer.body, before.answer.body);
  EXPECT_EQ(node.server().connection_count(), 1u);
}

struct failing_handler_case {
  std::string name;
  request_handler handler;
  std::string expected_text;
};

TEST(RpcCall, HandlerThatFailsOrDropsItsResponderEndsTheCallWithHandlerFailed) {
  const std::vector<failing_handler_case> cases = {
      {"responder::fail", [](std::string, responder answer) { answer.fail("disk full"); },
       "disk full"},
      {"responder dropped", [](std::string, responder) {}, "without answering"},
      {"handler throws",
       [](std::string, responder) -> void { throw std::runtime_error("handler bug"); },
       "without answering"},
      {"handler throws something that is not an exception",
       [](std::string, responder) -> void { throw 42; }, "without answering"},
  };
  test_node node;
  for (std::size_t i = 0; i < cases.size(); ++i)
    node.handle(static_cast<std::uint32_t>(10 + i), cases[i].handler);
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});

  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    auto done = caller.call(static_cast<std::uint32_t>(10 + i), "request");
    ASSERT_TRUE(done.completed);
    EXPECT_EQ(done.code, errc::handler_failed) << describe(done);
    EXPECT_TRUE(contains(done.answer.detail, cases[i].expected_text)) << done.answer.detail;
  }
  auto after = caller.call(echo_type, "after");
  EXPECT_FALSE(after.code) << describe(after);
}

// --- Graceful shutdown ------------------------------------------------------------------------

void check_graceful_shutdown(link_mode mode) {
  auto shut = std::make_shared<std::promise<void>>();
  test_node first({.mode = mode, .shutdown_timeout = 30s});
  auto& held = first.hold(held_type);
  first.handle(echo_type, echo);
  ASSERT_TRUE(first.start());
  test_node second({.mode = mode});
  second.handle(echo_type, echo);
  ASSERT_TRUE(second.start());
  test_client caller({.endpoints = {first.where(), second.where()}, .mode = mode});

  auto warm = caller.call(echo_type, "warm");
  ASSERT_FALSE(warm.code) << describe(warm);
  ASSERT_EQ(warm.answer.node, first.where());
  auto slow = caller.start(held_type, "slow");
  ASSERT_TRUE(held.wait_for_arrivals(1));

  first.server().async_shutdown([shut] { shut->set_value(); });
  auto shut_down = shut->get_future();
  // Until the client hears goaway its calls may still reach the first node, which refuses
  // them; then they go to a new connection, to the second node.
  bool moved = eventually([&] {
    auto next = caller.call(echo_type, "new");
    EXPECT_TRUE(next.completed);
    if (next.code) {
      EXPECT_EQ(next.code, errc::shutting_down) << describe(next);
    }
    return !next.code && next.answer.node == second.where();
  });
  EXPECT_TRUE(moved);
  EXPECT_EQ(shut_down.wait_for(0s), std::future_status::timeout)
      << "shutdown completed with a call in flight";

  held.reply_all("finished");
  auto answered = await(slow);
  ASSERT_TRUE(answered.completed);
  EXPECT_FALSE(answered.code) << describe(answered);
  EXPECT_EQ(answered.answer.body, "finished");
  EXPECT_EQ(answered.answer.node, first.where());
  ASSERT_EQ(shut_down.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(first.server().connection_count(), 0u);
}

TEST(RpcShutdown, GracefulShutdownFinishesCallsInFlightAndSendsNewCallsElsewhere) {
  for (auto mode : {link_mode::plain, link_mode::mutual_tls}) {
    SCOPED_TRACE(to_string(mode));
    check_graceful_shutdown(mode);
  }
}

TEST(RpcShutdown, GracefulShutdownDeliversALargeLastAnswerInFull) {
  // Far more than the kernel takes in one write, so the answer is still being written when
  // the connection, drained, is closed.
  const std::size_t answer_size = 4 * kernel_buffer_bytes();
  auto shut = std::make_shared<std::promise<void>>();
  node_setup setup;
  setup.limits.max_message_size = 1024 * 1024 * 1024;
  setup.shutdown_timeout = 30s;
  test_node node(setup);
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}, .limits = setup.limits});

  auto slow = caller.start(held_type, "a large answer, please");
  ASSERT_TRUE(held.wait_for_arrivals(1));
  node.server().async_shutdown([shut] { shut->set_value(); });
  held.reply_all(std::string(answer_size, 'z'));

  auto done = await(slow, 60s);
  ASSERT_TRUE(done.completed);
  ASSERT_FALSE(done.code) << describe(done);
  EXPECT_EQ(done.answer.body.size(), answer_size);
  EXPECT_EQ(shut->get_future().wait_for(10s), std::future_status::ready);
}

TEST(RpcShutdown, CallsAfterTheOnlyNodeSaidGoawayFailPromptly) {
  auto shut = std::make_shared<std::promise<void>>();
  test_node node({.shutdown_timeout = 30s});
  auto& held = node.hold(held_type);
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}, .call_timeout = 30s});
  auto slow = caller.start(held_type, "keeps the node draining");
  ASSERT_TRUE(held.wait_for_arrivals(1));
  node.server().async_shutdown([shut] { shut->set_value(); });

  // Once the client has heard goaway, it looks for another connection and finds none.
  bool refused = eventually([&] {
    auto next = caller.call(echo_type, "new", {}, 5s);
    EXPECT_TRUE(next.completed) << "a call after goaway waited for its deadline";
    return next.code == errc::connect_failed;
  });
  ASSERT_TRUE(refused);
  for (int i = 0; i < 3; ++i) {
    auto next = caller.call(echo_type, "again", {}, 5s);
    ASSERT_TRUE(next.completed) << "call " << i << " after goaway waited for its deadline";
    EXPECT_EQ(next.code, errc::connect_failed) << describe(next);
  }

  held.reply_all("finished");
  auto answered = await(slow);
  EXPECT_FALSE(answered.code) << describe(answered);
  EXPECT_EQ(shut->get_future().wait_for(10s), std::future_status::ready);
}

TEST(RpcShutdown, ShutdownClosesConnectionsStillBusyAfterShutdownTimeout) {
  auto shut = std::make_shared<std::promise<void>>();
  test_node node({.shutdown_timeout = 200ms});
  node.hold(held_type);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}});
  auto pending = caller.start(held_type, "never answered");
  ASSERT_TRUE(eventually([&] { return node.server().connection_count() == 1; }));

  node.server().async_shutdown([shut] { shut->set_value(); });
  ASSERT_EQ(shut->get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(node.server().connection_count(), 0u);
  auto done = await(pending);
  ASSERT_TRUE(done.completed);
  EXPECT_EQ(done.code, errc::lost_after_send) << describe(done);
}

// --- Back-pressure ----------------------------------------------------------------------------

// Requests of `type` with call ids 1..count, as one block of bytes.
std::string requests(std::uint32_t type, std::size_t count) {
  std::string bytes;
  for (std::size_t id = 1; id <= count; ++id) {
    auto header = wire::encode(
        {.kind = wire::frame_kind::request, .message_type = type, .body_size = 1, .call_id = id});
    bytes.append(reinterpret_cast<const char*>(header.data()), header.size());
    bytes += 'r';
  }
  return bytes;
}

// Resident memory of this process, which hosts the node under test.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST(RpcBackPressure, PeersThatAnnounceHugeBodiesAndSendLittleMakeTheNodeHoldLittle) {
  constexpr std::size_t peers = 16;
  node_setup setup;
  setup.limits.max_message_size = 64 * 1024 * 1024;
  test_node node(setup);
  node.hold(held_type);
  ASSERT_TRUE(node.start());

  auto before = resident_bytes();
  std::vector<std::unique_ptr<raw_peer>> announcing;
  for (std::size_t i = 0; i < peers; ++i) {
    announcing.push_back(std::make_unique<raw_peer>(node.where()));
    auto& peer = *announcing.back();
    ASSERT_TRUE(peer.connected() && peer.hello()) << peer.error().message();
    auto header = wire::encode({.kind = wire::frame_kind::request,
                                .message_type = held_type,
                                .body_size = 64 * 1024 * 1024 - 1,
                                .call_id = 1});
    std::string bytes(reinterpret_cast<const char*>(header.data()), header.size());
    ASSERT_TRUE(peer.send(bytes + std::string(100, 'x')));
  }
  // Let the node read what arrived; with the whole announced size allocated up front this
  // would be a gigabyte.
  std::this_thread::sleep_for(200ms);
  auto grown = resident_bytes() - std::min(before, resident_bytes());
  EXPECT_LT(grown, 32u * 1024 * 1024) << "the node allocated what the peers only announced";
  EXPECT_EQ(node.server().connection_count(), peers);
}

TEST(RpcBackPressure, NodeReadsNoRequestsPastMaxCallsInFlightUntilAnswersGoOut) {
  node_setup setup;
  setup.limits.max_calls_in_flight = 8;
  test_node node(setup);
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());
  raw_peer peer(node.where());
  ASSERT_TRUE(peer.connected()) << peer.error().message();
  ASSERT_TRUE(peer.hello());

  ASSERT_TRUE(peer.send(requests(held_type, 64)));
  ASSERT_TRUE(held.wait_for_arrivals(8));
  EXPECT_FALSE(held.wait_for_arrivals(9, 300ms)) << "the node read past maxCallsInFlight";

  // Each answer lets one more request in, and no more.
  held.reply_all("done");
  ASSERT_TRUE(held.wait_for_arrivals(16));
  EXPECT_FALSE(held.wait_for_arrivals(17, 300ms)) << "the node read past maxCallsInFlight";
  for (int i = 0; i < 8; ++i) {
    auto frame = peer.read_frame();
    ASSERT_TRUE(frame) << "response " << i << ": " << peer.error().message();
    if (frame->header.kind == wire::frame_kind::ping) {
      --i;
      continue;
    }
    EXPECT_EQ(frame->header.kind, wire::frame_kind::response);
    EXPECT_EQ(frame->body, "done");
  }
  EXPECT_EQ(node.server().connection_count(), 1u);
}

TEST(RpcBackPressure, NodeStopsReadingWhileAnswersToAPeerThatNeverReadsQueueUp) {
  constexpr std::size_t answer_size = 256 * 1024;
  constexpr std::size_t request_count = 512;
  std::atomic<std::size_t> answered{0};
  node_setup setup;
  setup.limits.max_calls_in_flight = 16;
  setup.limits.max_send_queue_bytes = 256 * 1024;
  test_node node(setup);
  node.handle(echo_type, [&](std::string, responder answer) {
    ++answered;
    answer.reply(std::string(answer_size, 'a'));
  });
  ASSERT_TRUE(node.start());
  raw_peer peer(node.where());
  ASSERT_TRUE(peer.connected()) << peer.error().message();
  ASSERT_TRUE(peer.hello());

  // Every answer the node makes is in its queue, in the kernel's buffers, or among the calls
  // it let in before the queue filled; nothing else may hold one.
  ASSERT_TRUE(peer.send(requests(echo_type, request_count)));
  ASSERT_TRUE(settles([&] { return answered.load(); }, 500ms));
  const std::size_t bound =
      (kernel_buffer_bytes() + setup.limits.max_send_queue_bytes) / answer_size +
      setup.limits.max_calls_in_flight + 2;
  EXPECT_LE(answered.load(), bound);
  EXPECT_LT(answered.load(), request_count);
  EXPECT_EQ(node.server().connection_count(), 1u);

  // Once the peer reads, every request is answered.
  std::size_t responses = 0;
  auto deadline = clock::now() + 60s;
  while (responses < request_count && clock::now() < deadline) {
    auto frame = peer.read_frame();
    ASSERT_TRUE(frame) << "after " << responses << " responses: " << peer.error().message();
    if (frame->header.kind == wire::frame_kind::response) ++responses;
  }
  EXPECT_EQ(responses, request_count);
  EXPECT_EQ(answered.load(), request_count);
}

// --- Keep-alive -------------------------------------------------------------------------------

TEST(RpcKeepAlive, PeerSilentAfterHelloIsClosedAfterDeadPeerTimeout) {
  node_setup setup;
  setup.limits.keep_alive_interval = 100ms;
  setup.limits.dead_peer_timeout = 300ms;
  test_node node(setup);
  ASSERT_TRUE(node.start());

  auto started = clock::now();
  raw_peer peer(node.where());
  ASSERT_TRUE(peer.connected()) << peer.error().message();
  ASSERT_TRUE(peer.hello());
  ASSERT_TRUE(node.wait_for_connections(1));

  // The peer reads the node's pings and answers none.
  EXPECT_TRUE(peer.wait_closed(5s)) << peer.error().message();
  EXPECT_GE(clock::now() - started, setup.limits.dead_peer_timeout);
  EXPECT_GT(peer.frames_discarded(), 0u) << "the node sent no ping while idle";
  EXPECT_TRUE(node.wait_for_connections(0));
}

TEST(RpcKeepAlive, PeerSendingALargeBodySlowlyIsNotTakenForDead) {
  constexpr std::size_t body_size = 24 * 1024;
  constexpr std::size_t chunk = 1024;
  node_setup setup;
  setup.limits.keep_alive_interval = 100ms;
  setup.limits.dead_peer_timeout = 300ms;
  test_node node(setup);
  node.handle(echo_type, [](std::string request, responder answer) {
    answer.reply(std::to_string(request.size()));
  });
  ASSERT_TRUE(node.start());
  raw_peer peer(node.where());
  ASSERT_TRUE(peer.connected()) << peer.error().message();
  ASSERT_TRUE(peer.hello());

  // A kilobyte every 50 ms: never silent for deadPeerTimeoutMs, slow as a whole.
  auto header = wire::encode({.kind = wire::frame_kind::request,
                              .message_type = echo_type,
                              .body_size = body_size,
                              .call_id = 1});
  ASSERT_TRUE(peer.send(std::string(reinterpret_cast<const char*>(header.data()), header.size())));
  for (std::size_t sent = 0; sent < body_size; sent += chunk) {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(peer.send(std::string(chunk, 'b'))) << "after " << sent << " bytes";
  }

  std::optional<raw_frame> frame;
  do {
    frame = peer.read_frame();
  } while (frame && frame->header.kind == wire::frame_kind::ping);
  ASSERT_TRUE(frame) << "the node closed the connection: " << peer.error().message();
  EXPECT_EQ(frame->header.kind, wire::frame_kind::response);
  EXPECT_EQ(frame->body, std::to_string(body_size));
}

TEST(RpcKeepAlive, NodeHoldingBackReadsForBackPressureDoesNotTakeItsClientForDead) {
  connection_limits limits;
  limits.keep_alive_interval = 100ms;
  limits.dead_peer_timeout = 300ms;
  node_setup setup;
  setup.limits = limits;
  setup.limits.max_calls_in_flight = 2;
  test_node node(setup);
  auto& held = node.hold(held_type);
  ASSERT_TRUE(node.start());
  test_client caller({.endpoints = {node.where()}, .limits = limits});

  std::vector<std::future<outcome>> pending;
  for (int i = 0; i < 3; ++i)
    pending.push_back(caller.start(held_type, "held"));
  ASSERT_TRUE(held.wait_for_arrivals(2));
  // The node reads nothing while both calls are held, the client's pings included; the
  // client is alive all the same.
  std::this_thread::sleep_for(3 * limits.dead_peer_timeout);
  held.reply_all("answered");
  for (int i = 0; i < 2; ++i) {
    auto done = await(pending[i]);
    ASSERT_TRUE(done.completed);
    EXPECT_FALSE(done.code) << describe(done);
  }
  ASSERT_TRUE(held.wait_for_arrivals(3));
  held.reply_all("answered");
  auto last = await(pending[2]);
  EXPECT_FALSE(last.code) << describe(last);
}

// --- Protocol errors from a peer --------------------------------------------------------------

struct bad_bytes_case {
  std::string name;
  std::string bytes;
  errc status;
  std::vector<std::string> text_parts;
};

std::vector<bad_bytes_case> bad_first_frames() {
  return {
      {"bad magic", "SXYZ" + std::string(24, '\0'), errc::protocol_error, {"magic 53545254"}},
      {"wrong version", raw_header(2, 1), errc::version_mismatch, {"format 1", "version 2"}},
      {"unknown kind", raw_header(1, 99), errc::protocol_error, {"kind 99"}},
      {"garbage",
       "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
       errc::protocol_error,
       {"not a strait client"}},
      {"hello with a body",
       raw_header(1, 1, 100 * 1024 * 1024),
       errc::message_too_large,
       {"maxMessageSize"}},
      {"request before hello", raw_header(1, 2), errc::protocol_error, {"hello"}},
  };
}

// Checks that the node answers `bytes` with one error frame and closes, and still serves.
void expect_refused_and_node_up(test_node& node, raw_peer& peer, const bad_bytes_case& c) {
  ASSERT_TRUE(peer.send(c.bytes)) << peer.error().message();
  auto frame = peer.read_frame();
  ASSERT_TRUE(frame) << "no error frame: " << peer.error().message();
  EXPECT_EQ(frame->header.kind, wire::frame_kind::error);
  EXPECT_EQ(frame->header.call_id, 0u);
  EXPECT_EQ(frame->header.status, static_cast<std::uint32_t>(c.status)) << frame->body;
  for (const auto& part : c.text_parts)
    EXPECT_TRUE(contains(frame->body, part)) << frame->body;
  EXPECT_TRUE(peer.wait_closed()) << peer.error().message();

  test_client caller({.endpoints = {node.where()}});
  auto done = caller.call(echo_type, "still up");
  EXPECT_FALSE(done.code) << describe(done);
}

TEST(RpcProtocol, MalformedFirstFrameGetsAnErrorFrameAndTheNodeStaysUp) {
  test_node node;
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  for (const auto& c : bad_first_frames()) {
    SCOPED_TRACE(c.name);
    raw_peer peer(node.where());
    ASSERT_TRUE(peer.connected()) << peer.error().message();
    expect_refused_and_node_up(node, peer, c);
  }
}

TEST(RpcProtocol, MalformedFrameAfterHelloGetsAnErrorFrameAndTheNodeStaysUp) {
  const std::vector<bad_bytes_case> cases = {
      {"bad magic", "SXYZ" + std::string(24, '\0'), errc::protocol_error, {"magic 53545254"}},
      {"wrong version", raw_header(2, 2), errc::version_mismatch, {"format 1", "version 2"}},
      {"unknown kind", raw_header(1, 99), errc::protocol_error, {"kind 99"}},
      {"oversized request",
       raw_header(1, 2, 100 * 1024 * 1024),
       errc::message_too_large,
       {"104857600", "maxMessageSize"}},
      {"a second hello", raw_header(1, 1), errc::protocol_error, {"requests only", "kind 1"}},
      {"a response from a client", raw_header(1, 3), errc::protocol_error, {"kind 3"}},
      {"goaway from a client", raw_header(1, 7), errc::protocol_error, {"kind 7"}},
  };
  test_node node;
  node.handle(echo_type, echo);
  ASSERT_TRUE(node.start());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    raw_peer peer(node.where());
    ASSERT_TRUE(peer.connected()) << peer.error().message();
    ASSERT_TRUE(peer.hello());
    expect_refused_and_node_up(node, peer, c);
  }
}

TEST(RpcProtocol, NodeThatNeverAnswersHelloFailsTheCallWithHandshakeTimeout) {
  // The kernel completes the connection into the backlog; nobody ever reads the hello.
  asio::io_context context;
  asio::ip::tcp::acceptor mute(context, {asio::ip::make_address("::1"), 0});
  auto where = loopback_endpoint(loopback::ipv6, mute.local_endpoint().port());
  test_client caller({.endpoints = {where}, .handshake_timeout = 200ms});

  auto done = caller.call(echo_type, "hello?");
  ASSERT_TRUE(done.completed);
  EXPECT_EQ(done.code, errc::handshake_timeout) << describe(done);
  EXPECT_TRUE(contains(done.answer.detail, where.to_string())) << done.answer.detail;
  EXPECT_TRUE(contains(done.answer.detail, "handshakeTimeoutMs")) << done.answer.detail;
}

struct stalled_setup_case {
  std::string name;
  link_mode mode;
  // What the peer sends before it stops.
  std::string bytes;
};

TEST(RpcProtocol, PeerThatStallsDuringSetUpIsClosedAfterHandshakeTimeout) {
  const std::vector<stalled_setup_case> cases = {
      {"nothing at all", link_mode::plain, ""},
      {"half a hello", link_mode::plain, raw_header(1, 1).substr(0, 10)},
      {"the first byte of a TLS handshake", link_mode::mutual_tls, "\x16"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    test_node node({.mode = c.mode, .handshake_timeout = 200ms});
    node.handle(echo_type, echo);
    ASSERT_TRUE(node.start());
    raw_peer peer(node.where());
    ASSERT_TRUE(peer.connected()) << peer.error().message();
    if (!c.bytes.empty()) {
      ASSERT_TRUE(peer.send(c.bytes)) << peer.error().message();
    }

    EXPECT_TRUE(peer.wait_closed(5s)) << peer.error().message();
    EXPECT_EQ(node.server().connection_count(), 0u);
    test_client caller({.endpoints = {node.where()}, .mode = c.mode});
    auto done = caller.call(echo_type, "still up");
    EXPECT_FALSE(done.code) << describe(done);
  }
}

// --- Mode mismatch ----------------------------------------------------------------------------

struct mismatch_case {
  link_mode node_mode;
  link_mode client_mode;
  errc expected;
  std::string text;
};

TEST(RpcModeMismatch, EachSideOfAModeMismatchIsToldWhatDiffersWithinOneSecond) {
  const std::vector<mismatch_case> cases = {
      {link_mode::mutual_tls, link_mode::plain, errc::peer_requires_tls, "requires TLS"},
      {link_mode::plain, link_mode::mutual_tls, errc::peer_does_not_speak_tls,
       "does not speak TLS"},
  };
  for (auto family : {loopback::ipv4, loopback::ipv6}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::string(to_string(c.client_mode)) + " client, " +
                   std::string(to_string(c.node_mode)) + " node over " +
                   std::string(address_of(family)));
      test_node node({.family = family, .mode = c.node_mode});
      node.handle(echo_type, echo);
      ASSERT_TRUE(node.start());
      test_client caller({.endpoints = {node.where()}, .mode = c.client_mode});

      auto started = clock::now();
      auto done = caller.call(echo_type, "hello?");
      auto elapsed = clock::now() - started;
      ASSERT_TRUE(done.completed);
      EXPECT_EQ(done.code, c.expected) << describe(done);
      EXPECT_TRUE(contains(done.answer.detail, c.text)) << done.answer.detail;
      EXPECT_LT(elapsed, 1s) << "an upper bound of 'no hang', not a speed requirement";
    }
  }
}

}  // namespace
}  // namespace strait
