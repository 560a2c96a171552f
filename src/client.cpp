// SPDX-License-Identifier: Apache-2.0
#include <strait/client.hpp>

#include <strait/config.hpp>
#include <strait/tls.hpp>

#include "connection.hpp"
#include "log_internal.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <openssl/err.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <unordered_map>

namespace strait {
namespace detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using completion = asio::any_completion_handler<void(std::error_code, reply)>;

// A stream that broke during set-up, in words a user can act on. With TLS 1.3 the node judges
// the client certificate only after the client has finished its handshake, so a refused
// certificate surfaces here, on the hello exchange, as an OpenSSL error: it is reported as the
// TLS handshake failure it is, the same as under TLS 1.2.
result<stream> setup_failure(const endpoint& node, const std::error_code& ec,
                             const std::string& message) {
  auto where = "the node at " + node.to_string();
  if (std::string_view(ec.category().name()) == "asio.ssl") {
    return result<stream>::failure(
        make_error_code(errc::tls_handshake_failed),
        "TLS handshake with " + where + " failed: " + message + explain_tls_failure(ec, nullptr));
  }
  return result<stream>::failure(ec, where + " closed the connection during set-up: " + message);
}

}  // namespace

class client_connection;

// Every call, connection and endpoint of one client. All of it runs on one strand.
class client_core : public std::enable_shared_from_this<client_core> {
 public:
  client_core(asio::any_io_executor executor, client_options options)
      : executor_(executor), strand_(asio::make_strand(executor)), options_(std::move(options)) {
    backoff_.resize(options_.endpoints.size());
    for (auto& b : backoff_)
      b.delay = options_.reconnect_delay;
  }

  void start_call(std::uint32_t type, std::string body, call_options options, completion handler);
  void close();

  // From the connections, on the strand.
  void on_writing(std::uint64_t call_id);
  void on_answer(const wire::frame_header& header, std::string body, const endpoint& node);
  void on_goaway();
  void on_connection_closed(const client_connection* conn, const std::string& detail);

 private:
  struct call {
    // Asio 1.81's any_completion_handler recurses forever on move assignment; move
    // construction is fine, so the handler is only ever constructed in place.
    explicit call(completion h) : handler(std::move(h)) {}

    std::uint64_t id = 0;
    std::uint32_t type = 0;
    std::string request;
    completion handler;
    std::unique_ptr<asio::steady_timer> deadline;
    std::shared_ptr<client_connection> connection;  // null while waiting for one
    bool written = false;
  };
  struct endpoint_backoff {
    clock::time_point retry_at{};
    milliseconds delay{};
    // Why the last attempt failed; calls made while the endpoint backs off fail with it.
    std::error_code last_code;
    std::string last_failure;
  };

  void admit(std::unique_ptr<call> c, milliseconds timeout);
  void watch_cancellation(asio::cancellation_slot slot, std::uint64_t id);
  void route(call& c);
  std::shared_ptr<client_connection> pick_connection();
  std::size_t usable_connections() const;
  void ensure_connecting();
  asio::awaitable<void> connect_any();
  asio::awaitable<result<stream>> connect_one(const endpoint& target);
  void fail_waiting(std::error_code code, const std::string& detail);
  void finish(std::uint64_t id, std::error_code ec, reply r);
  void finish_now(completion handler, std::error_code ec, reply r);

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  client_options options_;
  std::unordered_map<std::uint64_t, std::unique_ptr<call>> calls_;
  std::deque<std::uint64_t> waiting_;
  std::vector<std::shared_ptr<client_connection>> pool_;
  std::vector<endpoint_backoff> backoff_;
  std::size_t active_endpoint_ = 0;
  std::size_t next_connection_ = 0;
  // Calls are numbered as they start, on the caller's thread.
  std::atomic<std::uint64_t> next_call_id_{1};
  std::uint64_t next_connection_id_ = 1;
  bool connecting_ = false;
  bool closed_ = false;
};

class client_connection : public connection {
 public:
  client_connection(stream s, const connection_limits& limits, std::uint64_t id,
                    std::weak_ptr<client_core> core, endpoint node)
      : connection(std::move(s), limits, id, "client"),
        core_(std::move(core)),
        node_(std::move(node)) {}

  const endpoint& node() const noexcept { return node_; }
  bool draining() const noexcept { return draining_; }

 protected:
  void on_frame(const wire::frame_header& header, std::string body) override {
    auto core = core_.lock();
    if (!core) return;
    switch (header.kind) {
      case wire::frame_kind::response:
      case wire::frame_kind::error:
        if (header.call_id != 0) return core->on_answer(header, std::move(body), node_);
        return close(std::error_code(static_cast<int>(header.status), strait_category()), body);
      case wire::frame_kind::goaway:
        draining_ = true;
        return core->on_goaway();
      default:
        fail_protocol(cat("a node sends no frame of kind ", static_cast<int>(header.kind)),
                      errc::protocol_error);
    }
  }

  void on_writing(const wire::frame_header& header) override {
    if (header.kind != wire::frame_kind::request) return;
    if (auto core = core_.lock()) core->on_writing(header.call_id);
  }

  void on_closed(std::error_code, const std::string& detail) override {
    log(log_level::info, "rpc", label(), ": closed: ", detail);
    if (auto core = core_.lock()) core->on_connection_closed(this, detail);
  }

 private:
  std::weak_ptr<client_core> core_;
  endpoint node_;
  bool draining_ = false;
};

void client_core::start_call(std::uint32_t type, std::string body, call_options options,
                             completion handler) {
  auto c = std::make_unique<call>(std::move(handler));
  c->id = next_call_id_++;
  c->type = type;
  c->request = std::move(body);
  // The slot is connected while the call starts, as Asio expects, so that a cancellation
  // emitted as soon as async_call returns is not lost: it reaches the strand after admit().
  watch_cancellation(asio::get_associated_cancellation_slot(c->handler), c->id);
  auto timeout = options.timeout.count() > 0 ? options.timeout : options_.call_timeout;
  asio::post(strand_, [self = shared_from_this(), c = std::move(c), timeout]() mutable {
    self->admit(std::move(c), timeout);
  });
}

void client_core::admit(std::unique_ptr<call> c, milliseconds timeout) {
  if (closed_) {
    return finish_now(std::move(c->handler), make_error_code(errc::shutting_down),
                      {.detail = "the client is closed"});
  }
  if (c->request.size() > options_.limits.max_message_size) {
    // Sent, it would make the node close the connection, and every call on it would be lost.
    return finish_now(
        std::move(c->handler), make_error_code(errc::message_too_large),
        {.detail = cat("the request of ", c->request.size(), " bytes exceeds maxMessageSize ",
                       options_.limits.max_message_size, "; it was not sent")});
  }
  if (calls_.size() >= options_.limits.max_calls_in_flight) {
    return finish_now(std::move(c->handler), make_error_code(errc::overloaded),
                      {.detail = cat(calls_.size(), " calls are in flight (maxCallsInFlight ",
                                     options_.limits.max_calls_in_flight, ")")});
  }

  // TODO(perf): one timer per call is an allocation and a timer-queue entry per call; a
  // connection-wide deadline wheel would serve pipelined small calls for less.
  c->deadline = std::make_unique<asio::steady_timer>(strand_, timeout);
  c->deadline->async_wait([weak = weak_from_this(), id = c->id, timeout](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    auto it = self->calls_.find(id);
    if (it == self->calls_.end()) return;
    auto written = it->second->written;
    auto node = it->second->connection ? it->second->connection->node() : endpoint{};
    self->finish(id, make_error_code(errc::call_timeout),
                 {.detail = cat("no response within ", timeout.count(), " ms (the request was ",
                                written ? "sent" : "not sent", ")"),
                  .node = node});
  });

  auto& placed = *c;
  calls_.emplace(c->id, std::move(c));
  route(placed);
}

void client_core::watch_cancellation(asio::cancellation_slot slot, std::uint64_t id) {
  if (!slot.is_connected()) return;
  slot.assign([weak = weak_from_this(), id, strand = strand_](asio::cancellation_type) {
    asio::post(strand, [weak, id] {
      if (auto self = weak.lock()) {
        self->finish(id, make_error_code(errc::call_cancelled),
                     {.detail = "cancelled by the caller"});
      }
    });
  });
}

void client_core::route(call& c) {
  auto conn = pick_connection();
  if (!conn) {
    // Queued before connecting: a connect that fails at once (a bad literal address, every
    // endpoint backing off) fails the waiting calls before ensure_connecting() returns.
    waiting_.push_back(c.id);
    ensure_connecting();
    return;
  }
  // A draining connection stays in the pool until its calls end, but takes no new ones.
  if (usable_connections() < options_.connections_per_endpoint) ensure_connecting();
  auto queued = conn->queued_bytes() + c.request.size();
  if (queued > options_.limits.max_send_queue_bytes) {
    return finish(c.id, make_error_code(errc::overloaded),
                  {.detail = cat(queued, " bytes would be queued (maxSendQueueBytes ",
                                 options_.limits.max_send_queue_bytes, ")"),
                   .node = conn->node()});
  }
  c.connection = conn;
  conn->send({.kind = wire::frame_kind::request, .message_type = c.type, .call_id = c.id},
             std::move(c.request));
}

std::shared_ptr<client_connection> client_core::pick_connection() {
  for (std::size_t tried = 0; tried < pool_.size(); ++tried) {
    auto& conn = pool_[next_connection_++ % pool_.size()];
    if (!conn->closed() && !conn->draining()) return conn;
  }
  return nullptr;
}

std::size_t client_core::usable_connections() const {
  return static_cast<std::size_t>(std::count_if(pool_.begin(), pool_.end(), [](const auto& conn) {
    return !conn->closed() && !conn->draining();
  }));
}

void client_core::ensure_connecting() {
  if (connecting_ || closed_ || options_.endpoints.empty()) return;
  connecting_ = true;
  asio::co_spawn(strand_, connect_any(), asio::detached);
}

// Tries the endpoints in failover order, starting with the one in use. The first that connects
// becomes the one in use; when none does, every waiting call fails with what each said.
asio::awaitable<void> client_core::connect_any() {
  auto self = shared_from_this();
  auto count = options_.endpoints.size();

  std::string failures;
  std::error_code first_code;
  auto note_failure = [&](std::error_code code, const std::string& text) {
    failures += (failures.empty() ? "" : "; ") + text;
    if (!first_code) first_code = code;
  };
  for (std::size_t k = 0; k < count && !closed_; ++k) {
    auto index = (active_endpoint_ + k) % count;
    const auto& target = options_.endpoints[index];
    auto& backoff = backoff_[index];
    // An endpoint that failed recently is not dialled again yet; calls fail at once with its
    // last error rather than wait for it to be due.
    if (auto now = clock::now(); backoff.retry_at > now) {
      auto wait = std::chrono::duration_cast<milliseconds>(backoff.retry_at - now).count();
      note_failure(backoff.last_code, backoff.last_failure + " (not retried for another " +
                                          std::to_string(wait) + " ms)");
      continue;
    }

    auto opened = co_await connect_one(target);
    if (closed_) break;
    if (!opened) {
      note_failure(opened.code(), opened.message());
      backoff.retry_at = clock::now() + backoff.delay;
      backoff.delay = std::min(backoff.delay * 2, options_.max_reconnect_delay);
      backoff.last_code = opened.code();
      backoff.last_failure = opened.message();
      continue;
    }

    backoff = {clock::time_point{}, options_.reconnect_delay, {}, {}};
    active_endpoint_ = index;
    auto conn =
        std::make_shared<client_connection>(std::move(opened).value(), options_.limits,
                                            next_connection_id_++, weak_from_this(), target);
    conn->start();
    pool_.push_back(conn);
    connecting_ = false;

    auto waiting = std::move(waiting_);
    for (auto id : waiting) {
      if (auto it = calls_.find(id); it != calls_.end()) route(*it->second);
    }
    co_return;
  }
  connecting_ = false;
  if (closed_) co_return;
  fail_waiting(first_code ? first_code : make_error_code(errc::connect_failed),
               count == 1 ? failures : "no node could be reached: " + failures);
}

asio::awaitable<result<stream>> client_core::connect_one(const endpoint& target) {
  auto opened = co_await connect(target, options_.connect);
  if (!opened) co_return opened;

  auto& s = *opened;
  auto deadline = options_.connect.handshake_timeout;
  if (auto ec = co_await write_frame(s, {.kind = wire::frame_kind::hello})) {
    co_return setup_failure(target, ec, ec.message());
  }
  // An error frame's text may be longer than a hello: allow a short sentence.
  auto answer = co_await read_frame_within(s, deadline, 4096);
  if (!answer) {
    auto code = answer.code();
    if (code == errc::handshake_timeout || code == errc::version_mismatch ||
        code == errc::protocol_error) {
      co_return result<stream>::failure(
          code, "the node at " + target.to_string() + ": " + answer.message());
    }
    co_return setup_failure(target, code, answer.message());
  }
  if (answer->header.kind == wire::frame_kind::error) {
    std::error_code code(static_cast<int>(answer->header.status), strait_category());
    if (code == errc::peer_requires_tls) {
      co_return result<stream>::failure(
          code, "the node at " + target.to_string() +
                    " requires TLS; set enableTLS 1 and the client certificate paths (enableTLS "
                    "differs between client and node)");
    }
    co_return result<stream>::failure(
        code, "the node at " + target.to_string() + " refused the connection: " + answer->body);
  }
  if (answer->header.kind != wire::frame_kind::hello) {
    co_return result<stream>::failure(
        make_error_code(errc::protocol_error),
        "the node at " + target.to_string() + " did not answer hello");
  }
  co_return opened;
}

void client_core::fail_waiting(std::error_code code, const std::string& detail) {
  auto waiting = std::move(waiting_);
  for (auto id : waiting)
    finish(id, code, {.detail = detail});
}

void client_core::on_writing(std::uint64_t call_id) {
  if (auto it = calls_.find(call_id); it != calls_.end()) it->second->written = true;
}

void client_core::on_answer(const wire::frame_header& header, std::string body,
                            const endpoint& node) {
  if (header.kind == wire::frame_kind::response) {
    return finish(header.call_id, {}, {.body = std::move(body), .node = node});
  }
  std::error_code code(static_cast<int>(header.status), strait_category());
  finish(header.call_id, code,
         {.detail = "the node at " + node.to_string() + ": " + body, .node = node});
}

void client_core::on_goaway() {
  // New calls go to a new connection; the draining one finishes what it has.
  if (!waiting_.empty() || pick_connection() == nullptr) ensure_connecting();
}

void client_core::on_connection_closed(const client_connection* conn, const std::string& detail) {
  std::erase_if(pool_, [conn](const auto& p) { return p.get() == conn; });
  std::vector<std::pair<std::uint64_t, bool>> lost;
  for (auto& [id, c] : calls_) {
    if (c->connection.get() == conn) lost.emplace_back(id, c->written);
  }
  for (auto [id, written] : lost) {
    auto where = "connection to " + conn->node().to_string() + " lost ";
    finish(
        id, make_error_code(written ? errc::lost_after_send : errc::lost_before_send),
        {.detail = where + (written ? "after" : "before") + " the request was written: " + detail,
         .node = conn->node()});
  }
  if (!waiting_.empty()) ensure_connecting();
}

void client_core::close() {
  asio::post(strand_, [self = shared_from_this()] {
    self->closed_ = true;
    // Calls end first: closing a connection would end its calls as lost instead.
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : self->calls_)
      ids.push_back(id);
    for (auto id : ids) {
      self->finish(id, make_error_code(errc::shutting_down), {.detail = "the client was closed"});
    }
    auto pool = std::move(self->pool_);
    for (auto& conn : pool)
      conn->close(make_error_code(errc::shutting_down), "the client closed");
  });
}

// The single place where a call ends: whatever ends it first (answer, deadline, cancellation,
// lost connection, close) removes it, so that nothing can complete it a second time.
void client_core::finish(std::uint64_t id, std::error_code ec, reply r) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  auto c = std::move(it->second);
  calls_.erase(it);
  c->deadline->cancel();
  finish_now(std::move(c->handler), ec, std::move(r));
}

void client_core::finish_now(completion handler, std::error_code ec, reply r) {
  asio::get_associated_cancellation_slot(handler).clear();
  // Never inline: the caller may hold state that the handler touches. Then on the handler's
  // own executor (a coroutine's, a strand), or the client's when it has none.
  asio::post(executor_, [handler = std::move(handler), ec, r = std::move(r)]() mutable {
    auto target = asio::get_associated_executor(handler);
    asio::dispatch(target, [handler = std::move(handler), ec, r = std::move(r)]() mutable {
      std::move(handler)(ec, std::move(r));
    });
  });
}

}  // namespace detail

client_options client_options::from_config(config& cfg, const tls_config& tls) {
  client_options options;
  options.endpoints = cluster_endpoints(cfg);
  options.connect = connect_options::from_config(cfg, tls);
  options.limits = connection_limits::from_config(cfg);
  options.call_timeout = std::chrono::milliseconds(cfg.get_int("callTimeoutMs"));
  options.connections_per_endpoint =
      static_cast<std::size_t>(cfg.get_int("connectionsPerEndpoint"));
  options.reconnect_delay = std::chrono::milliseconds(cfg.get_int("reconnectDelayMs"));
  options.max_reconnect_delay = std::chrono::milliseconds(cfg.get_int("maxReconnectDelayMs"));
  return options;
}

client::client(asio::any_io_executor executor, client_options options)
    : core_(std::make_shared<detail::client_core>(executor, std::move(options))) {}

client::~client() {
  close();
}

void client::close() {
  core_->close();
}

void client::start_call(std::uint32_t type, std::string body, call_options options,
                        asio::any_completion_handler<void(std::error_code, reply)> handler) {
  core_->start_call(type, std::move(body), options, std::move(handler));
}

}  // namespace strait
