// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/connector.hpp>
#include <strait/endpoint.hpp>
#include <strait/error.hpp>
#include <strait/limits.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace strait {

namespace asio = boost::asio;

namespace detail {
class client_core;
}

// The outcome of a call besides its error code.
struct reply {
  // The node's response; empty on error.
  std::string body;
  // On error, a sentence with the node and the cause ("connection to [::1]:6030 lost after the
  // request was written: the peer closed the connection").
  std::string detail;
  // The node that answered, or the last one tried.
  endpoint node;
};

struct call_options {
  // The call's deadline; zero means the client's `call_timeout`.
  std::chrono::milliseconds timeout{0};
};

struct client_options {
  // Where the cluster is, in failover order (firstEp, then secondEp).
  std::vector<endpoint> endpoints;
  connect_options connect;
  connection_limits limits;
  // callTimeoutMs: the default deadline of a call.
  std::chrono::milliseconds call_timeout{30000};
  // connectionsPerEndpoint: connections opened to the node in use; calls are spread over them.
  std::size_t connections_per_endpoint = 1;
  // reconnectDelayMs and maxReconnectDelayMs: after a failed connect, an endpoint is not tried
  // again for this long, doubling up to the maximum, reset by a successful connect.
  std::chrono::milliseconds reconnect_delay{100};
  std::chrono::milliseconds max_reconnect_delay{5000};

  // Everything from configuration; the endpoints from cluster_endpoints(), whose problems are
  // added to `cfg`.
  static client_options from_config(config& cfg, const tls_config& tls);
};

// The calling side: connects lazily to the first reachable endpoint, fails over to the next
// when one cannot be reached, and keeps many calls in flight on each connection.
//
// Every call completes exactly once, with a response or one of these errors:
// - connect errors (errc::connect_failed, connect_timeout, resolve_failed, tls_handshake_failed,
//   peer_requires_tls, peer_does_not_speak_tls, ...): no node was reached; the request was
//   never sent;
// - errc::lost_before_send: the connection broke before the request was written; safe to retry;
// - errc::lost_after_send: it broke after; the node may have handled the request;
// - errc::call_timeout, errc::call_cancelled: the request may have been handled if it was sent;
// - errc::overloaded: too many calls in flight or bytes queued on the connection; not sent;
// - errc::message_too_large: the request is larger than maxMessageSize (not sent), or the
//   node's response to it was (the node sent an error instead);
// - errc::unknown_message_type, errc::handler_failed, errc::shutting_down: the node's answer;
// - errc::shutting_down: the client was closed before the call ended.
class client {
 public:
  client(asio::any_io_executor executor, client_options options);
  // Closes; calls still pending complete with errc::shutting_down.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends `request` to the handler of `message_type`. Completion signature:
  // void(std::error_code, strait::reply). Works with callbacks, asio::use_future and
  // asio::use_awaitable; since the error is a std::error_code, the latter two yield a
  // std::tuple<std::error_code, reply> and never throw, so the detail is never lost. A bound
  // cancellation slot cancels the call (errc::call_cancelled).
  // The completion runs on the token's associated executor, by default the client's executor.
  template <class CompletionToken>
  auto async_call(std::uint32_t message_type, std::string request, call_options options,
                  CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code, reply)>(
        [this](auto handler, std::uint32_t type, std::string body, call_options opts) {
          start_call(
              type, std::move(body), opts,
              asio::any_completion_handler<void(std::error_code, reply)>(std::move(handler)));
        },
        token, message_type, std::move(request), options);
  }

  template <class CompletionToken>
  auto async_call(std::uint32_t message_type, std::string request, CompletionToken&& token) {
    return async_call(message_type, std::move(request), call_options{},
                      std::forward<CompletionToken>(token));
  }

  // Ends every connection; pending calls complete with errc::shutting_down.
  void close();

 private:
  void start_call(std::uint32_t type, std::string body, call_options options,
                  asio::any_completion_handler<void(std::error_code, reply)> handler);

  std::shared_ptr<detail::client_core> core_;
};

}  // namespace strait
