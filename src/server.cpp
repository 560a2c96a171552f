// SPDX-License-Identifier: Apache-2.0
#include <strait/server.hpp>

#include <strait/config.hpp>

#include "connection.hpp"
#include "deadline.hpp"
#include "log_internal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

namespace strait {
namespace detail {
namespace {

using asio::ip::tcp;
using std::chrono::milliseconds;

std::string show_peer(const tcp::socket& socket) {
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) return "an unknown peer";
  return endpoint::from_address(peer.address().to_string(), peer.port()).to_string();
}

// What the peer sent was not a frame this node takes; the peer is told before the node closes.
// Timeouts and socket errors leave nobody to tell.
bool is_frame_problem(const std::error_code& code) {
  return code == errc::protocol_error || code == errc::version_mismatch ||
         code == errc::message_too_large;
}

// Why this node rejected the client's certificate, and whose it was, when that was the cause.
std::string client_rejection(stream::tls_socket& tls) {
  SSL* ssl = tls.native_handle();
  long verify = SSL_get_verify_result(ssl);
  if (verify == X509_V_OK) return "";
  std::string text = "; the client's certificate was rejected: ";
  text += X509_verify_cert_error_string(verify);
  if (const X509* presented = SSL_get0_peer_certificate(ssl)) {
    text += " (" + identity_of_certificate(presented).to_string() + ")";
  }
  return text + "; it must be signed by the CA in this node's tlsCaPath";
}

}  // namespace

// State shared by the accept loops and every connection of one server.
class server_core : public std::enable_shared_from_this<server_core> {
 public:
  server_core(asio::any_io_executor executor, server_options options)
      : executor_(executor), strand_(asio::make_strand(executor)), options_(std::move(options)) {}

  result<bool> start();
  void stop();
  // Graceful shutdown on the core's strand; `done` runs on its own executor afterwards.
  void shutdown(asio::any_completion_handler<void()> done);

  const request_handler* find_handler(std::uint32_t type) const {
    auto it = handlers_.find(type);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  bool shutting_down() const noexcept { return shutting_down_; }
  void forget(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    connections_.erase(id);
  }
  std::size_t connection_count() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }

  std::unordered_map<std::uint32_t, request_handler> handlers_;
  std::optional<acceptor> acceptor_;

 private:
  asio::awaitable<void> accept_loop(tcp::acceptor& listening);
  asio::awaitable<void> admit(tcp::socket socket);
  asio::awaitable<result<stream>> open_stream(tcp::socket& socket);
  asio::awaitable<void> refuse(tcp::socket socket, errc code, std::string text);
  asio::awaitable<result<stream>> tls_handshake(tcp::socket socket);
  std::vector<std::shared_ptr<server_connection>> live_connections();
  asio::awaitable<void> drain_all();
  asio::awaitable<void> wait_until_closed(milliseconds within);

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  server_options options_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::uint64_t> next_id_{1};
  mutable std::mutex mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<server_connection>> connections_;
};

// A connection the node accepted: passes requests to handlers and writes their answers.
class server_connection : public connection {
 public:
  server_connection(stream s, const connection_limits& limits, std::uint64_t id,
                    std::shared_ptr<server_core> core)
      : connection(std::move(s), limits, id, "node"), core_(std::move(core)) {}

  // From any thread: the responder's answer, carried to this connection's executor.
  // Inline when the handler answers on the connection's own strand, as most do.
  void post_answer(std::uint64_t call_id, std::uint32_t type, bool ok, std::string body) {
    asio::dispatch(get_executor(),
                   [self = shared(), call_id, type, ok, body = std::move(body)]() mutable {
                     self->answer(call_id, type, ok, std::move(body));
                   });
  }

  // Tells the client no new calls are taken, and closes once the calls in flight are answered.
  void drain() {
    draining_ = true;
    send({.kind = wire::frame_kind::goaway}, {});
    close_if_drained();
  }

 protected:
  void on_frame(const wire::frame_header& header, std::string body) override {
    if (header.kind != wire::frame_kind::request) {
      fail_protocol(
          cat("a client sends requests only, not frame kind ", static_cast<int>(header.kind)),
          errc::protocol_error);
      return;
    }
    if (draining_ || core_->shutting_down()) {
      refuse_call(header, errc::shutting_down, "the node is shutting down");
      return;
    }
    const request_handler* h = core_->find_handler(header.message_type);
    if (!h) {
      refuse_call(header, errc::unknown_message_type,
                  cat("no handler for message type ", header.message_type, " on this node"));
      return;
    }
    ++in_flight_;
    run_handler(*h, header, std::move(body));
  }

  void on_closed(std::error_code, const std::string& detail) override {
    log(log_level::info, "rpc", label(), ": closed: ", detail);
    core_->forget(id());
  }

  bool reading_paused() const override {
    return in_flight_ >= limits().max_calls_in_flight ||
           queued_bytes() > limits().max_send_queue_bytes;
  }

 private:
  std::shared_ptr<server_connection> shared() {
    return std::static_pointer_cast<server_connection>(shared_from_this());
  }

  void run_handler(const request_handler& h, const wire::frame_header& header, std::string body) {
    call_context context{id(), transport().remote(), transport().peer(), transport().is_tls(),
                         header.message_type};
    try {
      h(std::move(body), responder(shared(), std::move(context), header.call_id));
    } catch (const std::exception& e) {
      // The responder, destroyed while unwinding, has already failed the call.
      log(log_level::error, "rpc", label(), ": handler of message type ", header.message_type,
          " threw: ", e.what());
    } catch (...) {
      // Let through, it would end the reader silently and leave the connection open, unread.
      log(log_level::error, "rpc", label(), ": handler of message type ", header.message_type,
          " threw something that is not a std::exception");
    }
  }

  void refuse_call(const wire::frame_header& header, errc code, std::string text) {
    send({.kind = wire::frame_kind::error,
          .message_type = header.message_type,
          .call_id = header.call_id,
          .status = static_cast<std::uint32_t>(code)},
         std::move(text));
  }

  void answer(std::uint64_t call_id, std::uint32_t type, bool ok, std::string body) {
    --in_flight_;
    if (!ok) {
      refuse_call({.message_type = type, .call_id = call_id}, errc::handler_failed,
                  std::move(body));
    } else if (body.size() > limits().max_message_size) {
      // The client would close the connection on it, losing every other call with it.
      auto problem = cat("the response of ", body.size(), " bytes to message type ", type,
                         " exceeds maxMessageSize ", limits().max_message_size);
      log(log_level::warning, "rpc", label(), ": ", problem);
      refuse_call({.message_type = type, .call_id = call_id}, errc::message_too_large, problem);
    } else {
      send({.kind = wire::frame_kind::response, .message_type = type, .call_id = call_id},
           std::move(body));
    }
    resume_reading();
    close_if_drained();
  }

  void close_if_drained() {
    if (draining_ && in_flight_ == 0) {
      close_after_flush(make_error_code(errc::shutting_down), "the node shut down");
    }
  }

  std::shared_ptr<server_core> core_;
  std::size_t in_flight_ = 0;
  bool draining_ = false;
};

result<bool> server_core::start() {
  auto bound = acceptor::open(strand_, options_.listen);
  if (!bound) return result<bool>::failure(bound.code(), bound.message());
  acceptor_.emplace(std::move(bound).value());
  for (auto& listening : acceptor_->sockets()) {
    asio::co_spawn(strand_, accept_loop(listening), asio::detached);
  }
  return true;
}

asio::awaitable<void> server_core::accept_loop(tcp::acceptor& listening) {
  auto self = shared_from_this();
  while (listening.is_open()) {
    auto [ec, socket] = co_await listening.async_accept(asio::make_strand(executor_),
                                                        asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !listening.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: say so, and do not spin on it.
      log(log_level::warning, "transport", "accept failed: ", ec.message());
      asio::steady_timer pause(strand_, milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, self->admit(std::move(socket)), asio::detached);
  }
}

// From accept to a running connection: mode check, TLS handshake, hello exchange.
asio::awaitable<void> server_core::admit(tcp::socket socket) {
  auto self = shared_from_this();
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
  auto peer = show_peer(socket);

  auto opened = co_await open_stream(socket);
  if (!opened) {
    if (opened.code() != std::errc::operation_canceled) {
      log(log_level::warning, "transport", "connection from ", peer,
          " refused: ", opened.message());
    }
    co_return;
  }
  stream s = std::move(opened).value();

  // A hello has no body; a larger limit lets a client that skips hello hear that, rather than
  // that its first frame was too large.
  constexpr std::uint32_t first_frame_limit = 4096;
  auto hello = co_await read_frame_within(s, options_.handshake_timeout, first_frame_limit);
  if (!hello || hello->header.kind != wire::frame_kind::hello) {
    auto code = hello ? make_error_code(errc::protocol_error) : hello.code();
    auto problem = hello ? cat("expected hello as the first frame, received frame kind ",
                               static_cast<int>(hello->header.kind))
                         : hello.message();
    log(log_level::warning, "rpc", "connection from ", peer, " failed set-up: ", problem);
    if (is_frame_problem(code)) {
      co_await write_frame(
          s, {.kind = wire::frame_kind::error, .status = static_cast<std::uint32_t>(code.value())},
          problem);
    }
    co_await s.shutdown(milliseconds(500));
    co_return;
  }
  if (co_await write_frame(s, {.kind = wire::frame_kind::hello})) co_return;

  auto id = next_id_++;
  auto conn = std::make_shared<server_connection>(std::move(s), options_.limits, id, self);
  log(log_level::info, "rpc", conn->label(), ": accepted",
      conn->transport().is_tls() ? " (mutual TLS, " + conn->transport().peer().to_string() + ")"
                                 : " (plain)");
  {
    std::lock_guard lock(mutex_);
    connections_[id] = conn;
  }
  conn->start();
  if (shutting_down_) conn->drain();
}

// Peeks at the first byte to tell TLS from plain before committing to either, so that a peer
// of the other mode hears what is wrong instead of a bare handshake error.
asio::awaitable<result<stream>> server_core::open_stream(tcp::socket& socket) {
  boost::system::error_code ec;
  bool timed_out = false;
  {
    deadline_guard guard(socket.get_executor(), options_.handshake_timeout, [&socket] {
      boost::system::error_code ignored;
      socket.close(ignored);
    });
    std::tie(ec) =
        co_await socket.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    timed_out = guard.expired();
  }
  std::uint8_t first = 0;
  if (!ec) socket.receive(asio::buffer(&first, 1), tcp::socket::message_peek, ec);
  if (timed_out) {
    co_return result<stream>::failure(make_error_code(errc::handshake_timeout),
                                      "the peer sent nothing within " +
                                          std::to_string(options_.handshake_timeout.count()) +
                                          " ms");
  }
  if (ec) co_return result<stream>::failure(ec, ec.message());

  bool node_tls = options_.tls != nullptr;
  if (first == wire::magic[0] && !node_tls) co_return stream(std::move(socket));
  if (first == wire::tls_handshake_byte && node_tls)
    co_return co_await tls_handshake(std::move(socket));

  auto peer = show_peer(socket);
  if (first == wire::magic[0]) {
    co_await refuse(std::move(socket), errc::peer_requires_tls,
                    "this node requires TLS; set enableTLS 1 and the client certificate paths "
                    "(enableTLS differs between client and node)");
    co_return result<stream>::failure(
        make_error_code(errc::peer_requires_tls),
        "a plain client from " + peer + " reached this TLS node; enableTLS differs");
  }
  if (first == wire::tls_handshake_byte) {
    co_await refuse(std::move(socket), errc::peer_does_not_speak_tls,
                    "this node does not speak TLS; enableTLS differs between client and node");
    co_return result<stream>::failure(
        make_error_code(errc::peer_does_not_speak_tls),
        "a TLS client from " + peer + " reached this plain node; enableTLS differs");
  }
  co_await refuse(std::move(socket), errc::protocol_error, "not a strait client");
  co_return result<stream>::failure(make_error_code(errc::protocol_error),
                                    "the first byte from " + peer +
                                        " starts neither a strait "
                                        "frame nor a TLS handshake");
}

// Answers a peer of the wrong mode in plain text and closes without a reset: the peer's
// unread bytes are consumed first, since closing over unread bytes sends RST, which can
// destroy the answer before the peer reads it.
asio::awaitable<void> server_core::refuse(tcp::socket socket, errc code, std::string text) {
  stream s(std::move(socket));
  std::array<std::uint8_t, 4096> discard{};
  boost::system::error_code ec;
  s.tcp().non_blocking(true, ec);
  s.tcp().read_some(asio::buffer(discard), ec);
  co_await write_frame(
      s, {.kind = wire::frame_kind::error, .status = static_cast<std::uint32_t>(code)}, text);
  s.tcp().shutdown(tcp::socket::shutdown_send, ec);

  // Wait briefly for the peer to read the answer and close its side.
  {
    deadline_guard guard(s.get_executor(), milliseconds(1000), [&s] { s.close(); });
    for (int reads = 0; reads < 64; ++reads) {
      auto [read_ec, n] = co_await s.read_some(asio::buffer(discard));
      if (read_ec) break;
    }
  }
  s.close();
}

asio::awaitable<result<stream>> server_core::tls_handshake(tcp::socket socket) {
  auto peer = show_peer(socket);
  stream::tls_socket tls(std::move(socket), *options_.tls);
  boost::system::error_code ec;
  bool timed_out = false;
  {
    deadline_guard guard(tls.get_executor(), options_.handshake_timeout, [&tls] {
      boost::system::error_code ignored;
      tls.next_layer().close(ignored);
    });
    std::tie(ec) = co_await tls.async_handshake(asio::ssl::stream_base::server,
                                                asio::as_tuple(asio::use_awaitable));
    timed_out = guard.expired();
  }
  if (timed_out) {
    co_return result<stream>::failure(make_error_code(errc::handshake_timeout),
                                      "TLS handshake with " + peer + " did not finish within " +
                                          std::to_string(options_.handshake_timeout.count()) +
                                          " ms");
  }
  if (ec) {
    co_return result<stream>::failure(
        make_error_code(errc::tls_handshake_failed),
        "TLS handshake with " + peer + " failed: " + ec.message() + client_rejection(tls));
  }
  auto identity = identity_of(tls.native_handle());
  co_return stream(std::move(tls), std::move(identity));
}

std::vector<std::shared_ptr<server_connection>> server_core::live_connections() {
  std::vector<std::shared_ptr<server_connection>> live;
  std::lock_guard lock(mutex_);
  for (auto& [id, weak] : connections_) {
    if (auto conn = weak.lock()) live.push_back(conn);
  }
  return live;
}

void server_core::stop() {
  shutting_down_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    if (self->acceptor_) self->acceptor_->close();
  });
  for (auto& conn : live_connections()) {
    asio::post(conn->get_executor(),
               [conn] { conn->close(make_error_code(errc::shutting_down), "the node stopped"); });
  }
}

void server_core::shutdown(asio::any_completion_handler<void()> done) {
  asio::co_spawn(strand_, drain_all(),
                 [executor = executor_, done = std::move(done)](std::exception_ptr) mutable {
                   asio::post(executor, std::move(done));
                 });
}

asio::awaitable<void> server_core::drain_all() {
  auto self = shared_from_this();
  shutting_down_ = true;
  if (acceptor_) acceptor_->close();
  for (auto& conn : live_connections()) {
    asio::post(conn->get_executor(), [conn] { conn->drain(); });
  }

  co_await wait_until_closed(options_.shutdown_timeout);
  if (auto left = connection_count(); left > 0) {
    log(log_level::warning, "rpc", left,
        " connection(s) still busy after shutdownTimeoutMs; closing them");
  }
  stop();
  // stop() closes each connection on its own strand; the shutdown is over once they have.
  co_await wait_until_closed(milliseconds(1000));
}

// Connections leave the registry as they close; poll rather than count down, since a
// connection may close on its own at the same time.
asio::awaitable<void> server_core::wait_until_closed(milliseconds within) {
  auto deadline = std::chrono::steady_clock::now() + within;
  asio::steady_timer poll(strand_);
  while (connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    poll.expires_after(milliseconds(10));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

server_options server_options::from_config(const config& cfg, const tls_config& tls) {
  server_options options;
  options.listen = listen_options::from_config(cfg);
  options.tls = tls.server_context();
  options.limits = connection_limits::from_config(cfg);
  options.handshake_timeout = std::chrono::milliseconds(cfg.get_int("handshakeTimeoutMs"));
  options.shutdown_timeout = std::chrono::milliseconds(cfg.get_int("shutdownTimeoutMs"));
  return options;
}

responder::responder(std::shared_ptr<detail::server_connection> connection, call_context context,
                     std::uint64_t call_id)
    : connection_(std::move(connection)), context_(std::move(context)), call_id_(call_id) {}

responder& responder::operator=(responder&& other) noexcept {
  if (this != &other) {
    if (connection_) answer(false, "the handler replaced its responder without answering");
    connection_ = std::move(other.connection_);
    context_ = std::move(other.context_);
    call_id_ = other.call_id_;
  }
  return *this;
}

responder::~responder() {
  if (connection_) answer(false, "the handler finished without answering");
}

void responder::reply(std::string body) {
  answer(true, std::move(body));
}

void responder::fail(std::string message) {
  answer(false, std::move(message));
}

void responder::answer(bool ok, std::string body) {
  if (!connection_) return;  // answered already
  auto connection = std::move(connection_);
  connection_.reset();
  connection->post_answer(call_id_, context_.message_type, ok, std::move(body));
}

server::server(asio::any_io_executor executor, server_options options)
    : core_(std::make_shared<detail::server_core>(executor, std::move(options))) {}

server::~server() {
  stop();
}

void server::handle(std::uint32_t message_type, request_handler h) {
  core_->handlers_[message_type] = std::move(h);
}

result<bool> server::start() {
  return core_->start();
}

std::uint16_t server::port() const {
  return core_->acceptor_ ? core_->acceptor_->port() : 0;
}

std::vector<endpoint> server::local_endpoints() const {
  return core_->acceptor_ ? core_->acceptor_->local_endpoints() : std::vector<endpoint>{};
}

std::size_t server::connection_count() const {
  return core_->connection_count();
}

void server::stop() {
  core_->stop();
}

void server::start_shutdown(asio::any_completion_handler<void()> done) {
  core_->shutdown(std::move(done));
}

}  // namespace strait
