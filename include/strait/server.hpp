// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/acceptor.hpp>
#include <strait/endpoint.hpp>
#include <strait/limits.hpp>
#include <strait/result.hpp>
#include <strait/tls.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace strait {

namespace asio = boost::asio;

namespace detail {
class server_connection;
class server_core;
}  // namespace detail

// What a handler knows about the call it answers.
struct call_context {
  std::uint64_t connection_id = 0;
  endpoint peer;
  // The client's verified certificate; empty on a plain node.
  peer_identity identity;
  bool tls = false;
  std::uint32_t message_type = 0;
};

// The one way to answer a call. A handler may keep it, move it to another thread and answer
// later; the answer is sent from the connection's own executor. Answering twice is a caller
// error and is ignored. A responder destroyed without answering fails the call with
// errc::handler_failed, so that no caller waits for an answer that will never come. A responder
// posts to its connection's executor: drop every responder before destroying the io_context.
class responder {
 public:
  responder(responder&&) noexcept = default;
  responder& operator=(responder&&) noexcept;
  ~responder();

  void reply(std::string body);
  // Ends the call with errc::handler_failed and `message` as its text.
  void fail(std::string message);

  const call_context& context() const noexcept { return context_; }

 private:
  friend class detail::server_connection;
  responder(std::shared_ptr<detail::server_connection> connection, call_context context,
            std::uint64_t call_id);
  void answer(bool ok, std::string body);

  std::shared_ptr<detail::server_connection> connection_;
  call_context context_;
  std::uint64_t call_id_ = 0;
};

// Handles one request. Runs on the connection's executor; a handler that blocks holds up every
// other call of that connection, so long work belongs elsewhere, with the responder.
using request_handler = std::function<void(std::string request, responder answer)>;

struct server_options {
  listen_options listen;
  // The server context of tls_config; null for a plain node.
  std::shared_ptr<asio::ssl::context> tls;
  connection_limits limits;
  // handshakeTimeoutMs: from accept to the end of the hello exchange, TLS handshake included.
  std::chrono::milliseconds handshake_timeout{5000};
  // shutdownTimeoutMs: how long async_shutdown lets calls in flight finish.
  std::chrono::milliseconds shutdown_timeout{5000};

  static server_options from_config(const config& cfg, const tls_config& tls);
};

// The listening side of a node: accepts connections (plain or mutual TLS, never both), runs the
// hello exchange, and passes each request to the handler registered for its message type.
class server {
 public:
  server(asio::any_io_executor executor, server_options options);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Registers the handler of `message_type`, replacing any earlier one. Precondition: start()
  // has not been called.
  void handle(std::uint32_t message_type, request_handler h);

  // Binds every listening socket and starts accepting. Fails with the address named (in use,
  // not an address of this host, IPv6 unavailable for an explicit serverIPv6).
  result<bool> start();

  // The port every listening socket is bound to (the chosen one when serverPort is 0).
  std::uint16_t port() const;
  std::vector<endpoint> local_endpoints() const;
  std::size_t connection_count() const;

  // Graceful shutdown: stops accepting, tells each client that no new calls are taken, lets
  // calls in flight finish for up to shutdown_timeout, then closes every connection.
  // Completion signature: void().
  template <class CompletionToken>
  auto async_shutdown(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void()>(
        [this](auto handler) {
          start_shutdown(asio::any_completion_handler<void()>(std::move(handler)));
        },
        token);
  }

  // Closes the listening sockets and every connection at once.
  void stop();

 private:
  void start_shutdown(asio::any_completion_handler<void()> done);

  std::shared_ptr<detail::server_core> core_;
};

}  // namespace strait
