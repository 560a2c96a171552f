// SPDX-License-Identifier: Apache-2.0
// Real nodes and clients on loopback for integration tests: a node, plain or mutual TLS, on
// 127.0.0.1 or [::1] with an ephemeral port; a client of it; calls run synchronously with a
// bounded wait; and a hand-driven peer for bytes that no strait client would send.
#pragma once

#include <strait/client.hpp>
#include <strait/frame.hpp>
#include <strait/io_threads.hpp>
#include <strait/server.hpp>
#include <strait/tls.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace strait::test_support {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

enum class loopback { ipv4, ipv6 };
enum class link_mode { plain, mutual_tls };

// "127.0.0.1" or "::1".
std::string_view address_of(loopback family) noexcept;
// "plain" or "mutual TLS", for SCOPED_TRACE.
std::string_view to_string(link_mode mode) noexcept;

// The certificates of scripts/make-test-certs.sh (ca.crt, server.crt/key, client.crt/key), and
// the seed's CN-only set in its seed/ directory.
std::string test_certs();
std::string seed_certs();

// TLS as a process builds it from `enableTLS 1` and the paths under `cert_dir`; off for plain.
// Start-up problems fail the calling test.
tls_config make_tls(link_mode mode, node_role role, const std::string& cert_dir);

endpoint loopback_endpoint(loopback family, std::uint16_t port);

// A port on which nothing listens: bound to the loopback address, then closed, so that a
// connect to it is refused.
std::uint16_t refused_port(loopback family);

struct node_setup {
  loopback family = loopback::ipv4;
  link_mode mode = link_mode::plain;
  std::string cert_dir = test_certs();
  connection_limits limits;
  milliseconds handshake_timeout{5000};
  milliseconds shutdown_timeout{5000};
};

// Calls a handler keeps instead of answering, so that a test decides when (and whether) they
// end. Every arrival is counted.
class held_calls {
 public:
  request_handler handler();

  std::size_t arrivals() const;
  // Waits until `count` calls have arrived; false when `within` passes first.
  bool wait_for_arrivals(std::size_t count, milliseconds within = 5s);
  // Answers every call held so far with `body`.
  void reply_all(const std::string& body);
  // Destroys the held responders unanswered.
  void drop_all();

 private:
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<responder> held_;
  std::size_t arrivals_ = 0;
};

// A node with its own threads, as another process would have.
class test_node {
 public:
  explicit test_node(node_setup setup = {}, std::size_t threads = 2);
  // Stops the node at once, threads included, then drops any held calls.
  ~test_node();
  test_node(const test_node&) = delete;
  test_node& operator=(const test_node&) = delete;

  // Precondition: start() has not been called.
  void handle(std::uint32_t type, request_handler h);
  // Registers a handler that holds its calls; the node owns them.
  held_calls& hold(std::uint32_t type);

  // Binds port 0 on the loopback address of the setup: [::1] alone for IPv6, and for IPv4 the
  // IPv4-only policy (0.0.0.0, since a node has no IPv4 listen address to choose).
  ::testing::AssertionResult start();

  strait::server& server() noexcept { return *server_; }
  endpoint where() const;
  asio::any_io_executor executor() { return threads_.executor(); }
  // Polls connection_count() until it is `count`; false when `within` passes first.
  bool wait_for_connections(std::size_t count, milliseconds within = 5s) const;

 private:
  node_setup setup_;
  io_threads threads_;
  std::vector<std::unique_ptr<held_calls>> held_;
  std::unique_ptr<strait::server> server_;
};

struct client_setup {
  std::vector<endpoint> endpoints;
  link_mode mode = link_mode::plain;
  std::string cert_dir = test_certs();
  connection_limits limits;
  milliseconds call_timeout{10000};
  milliseconds reconnect_delay{100};
  milliseconds handshake_timeout{5000};
  std::size_t connections_per_endpoint = 1;
};

// How a call ended, or that it did not end within the wait.
struct outcome {
  bool completed = false;
  std::error_code code;
  reply answer;
};

// A client with its own threads. Counts the completions of the calls it started.
class test_client {
 public:
  explicit test_client(client_setup setup, std::size_t threads = 1);
  // Stops the threads at once; calls not yet completed are dropped.
  ~test_client();
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  strait::client& get() noexcept { return *client_; }
  asio::any_io_executor executor() { return threads_.executor(); }

  // Starts a call; the future becomes ready when it completes.
  std::future<outcome> start(std::uint32_t type, std::string body, call_options options = {});
  // One call, waited for at most `wait`.
  outcome call(std::uint32_t type, std::string body, call_options options = {},
               milliseconds wait = 15s);

  std::size_t completions() const noexcept { return completions_; }
  // Lets the client's thread run what is queued on it now and what that queues in turn, a few
  // rounds deep, so that calls just started have been placed on a connection. Precondition:
  // the client has one thread.
  void settle();

 private:
  io_threads threads_;
  std::unique_ptr<strait::client> client_;
  std::atomic<std::size_t> completions_{0};
};

// The outcome of a started call; `completed` is false when `wait` passes first.
outcome await(std::future<outcome>& pending, milliseconds wait = 15s);

// Polls `condition` every few milliseconds; false when `within` passes first.
bool eventually(const std::function<bool()>& condition, milliseconds within = 5s);
// Polls `value` until it has not changed for `quiet`; false when `within` passes first.
bool settles(const std::function<std::size_t()>& value, milliseconds quiet,
             milliseconds within = 10s);

// The most bytes the kernel may hold between a TCP writer and a reader that reads nothing: the
// largest send buffer plus the largest receive buffer (net.ipv4.tcp_wmem and tcp_rmem).
std::size_t kernel_buffer_bytes();

struct raw_frame {
  wire::frame_header header;
  std::string body;
};

// A TCP connection driven by hand, for peers that misbehave on purpose. Every operation is
// bounded by its `within`; errors are kept in error().
class raw_peer {
 public:
  explicit raw_peer(const endpoint& node, milliseconds within = 5s);

  bool connected() const noexcept { return connected_; }
  const boost::system::error_code& error() const noexcept { return error_; }
  asio::ip::tcp::socket& socket() noexcept { return socket_; }

  bool send(std::string_view bytes, milliseconds within = 5s);
  bool send_frame(wire::frame_header header, std::string_view body = {}, milliseconds within = 5s);
  // One whole frame, of any version or kind; empty when the node closed, the header does not
  // decode, or `within` passed.
  std::optional<raw_frame> read_frame(milliseconds within = 5s);
  // Sends hello and reads the node's hello.
  bool hello(milliseconds within = 5s);
  // Reads and discards until the node closes the connection; false when `within` passes
  // first. Frames read meanwhile are counted in frames_discarded().
  bool wait_closed(milliseconds within = 5s);
  std::size_t frames_discarded() const noexcept { return discarded_; }

 private:
  bool run_until(const bool& done, milliseconds within);

  asio::io_context context_;
  asio::ip::tcp::socket socket_;
  boost::system::error_code error_;
  bool connected_ = false;
  std::size_t discarded_ = 0;
};

// A node that completes the hello exchange with its first client and then goes silent: it
// reads and discards whatever arrives, pings included, and answers nothing. Listens on [::1].
class silent_node {
 public:
  silent_node();
  // Stops its thread and closes the connection.
  ~silent_node();
  silent_node(const silent_node&) = delete;
  silent_node& operator=(const silent_node&) = delete;

  endpoint where() const;

 private:
  void accept();
  void discard();

  asio::io_context context_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket socket_;
  std::array<std::uint8_t, 4096> buffer_{};
  wire::header_bytes hello_{};
  std::thread thread_;
};

// A header in wire order, with any version or kind byte, for bytes a strait peer never sends.
std::string raw_header(std::uint8_t version, std::uint8_t kind, std::uint32_t body_size = 0);

}  // namespace strait::test_support

namespace strait {
// Lets GoogleTest show an endpoint as text in failure messages.
inline void PrintTo(const endpoint& e, std::ostream* out) {
  *out << e.to_string();
}
}  // namespace strait
