// SPDX-License-Identifier: Apache-2.0
#include "connection.hpp"

#include <strait/config.hpp>

#include "deadline.hpp"
#include "log_internal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>
#include <cstring>
#include <variant>

namespace strait {

connection_limits connection_limits::from_config(const config& cfg) {
  connection_limits limits;
  limits.max_message_size = static_cast<std::uint32_t>(cfg.get_int("maxMessageSize"));
  limits.max_calls_in_flight = static_cast<std::size_t>(cfg.get_int("maxCallsInFlight"));
  limits.max_send_queue_bytes = static_cast<std::size_t>(cfg.get_int("maxSendQueueBytes"));
  limits.keep_alive_interval = std::chrono::milliseconds(cfg.get_int("keepAliveIntervalMs"));
  limits.dead_peer_timeout = std::chrono::milliseconds(cfg.get_int("deadPeerTimeoutMs"));
  return limits;
}

namespace detail {
namespace {

using clock = std::chrono::steady_clock;

// Small frames are parsed from this buffer; a body that does not fit gets its own allocation.
// TODO(perf): an idle connection keeps this buffer (16 of the 25 KiB a plain idle connection
// costs); allocate it when the socket turns readable and give it back when the connection idles.
constexpr std::size_t read_buffer_size = 16 * 1024;
// TLS batches are copied into one buffer so that small frames share records. Bodies at least
// this large are written from their own storage instead of being copied.
// A body that does not fit the read buffer is read in allocations at least this large,
// doubling as it arrives.
constexpr std::size_t body_growth_step = 64 * 1024;
constexpr std::size_t coalesce_limit = 64 * 1024;

bool is_quiet_close(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated;
}

}  // namespace

connection::connection(stream s, connection_limits limits, std::uint64_t id, std::string_view side)
    : stream_(std::move(s)),
      limits_(limits),
      id_(id),
      label_(cat(side, " conn ", id, " ", stream_.remote().to_string())),
      resume_(stream_.get_executor()),
      wake_writer_(stream_.get_executor()),
      keep_alive_(stream_.get_executor()),
      last_received_(clock::now()),
      last_sent_(clock::now()) {}

void connection::start() {
  buffer_.resize(read_buffer_size);
  auto self = shared_from_this();
  asio::co_spawn(
      get_executor(), [self] { return self->read_loop(); }, asio::detached);
  asio::co_spawn(
      get_executor(), [self] { return self->write_loop(); }, asio::detached);
  asio::co_spawn(
      get_executor(), [self] { return self->keep_alive_loop(); }, asio::detached);
}

bool connection::send(wire::frame_header header, std::string body) {
  if (closed_ || flush_then_close_) return false;
  header.body_size = static_cast<std::uint32_t>(body.size());
  queued_bytes_ += wire::header_size + body.size();
  queue_.push_back(outgoing{wire::encode(header), header, std::move(body)});
  wake_writer_.cancel();
  return true;
}

void connection::close(std::error_code reason, std::string detail) {
  if (closed_) return;
  closed_ = true;
  stream_.close();
  resume_.cancel();
  wake_writer_.cancel();
  keep_alive_.cancel();
  queue_.clear();
  queued_bytes_ = 0;
  on_closed(reason, detail);
}

void connection::close_after_flush(std::error_code reason, std::string detail) {
  if (closed_ || flush_then_close_) return;
  flush_then_close_ = true;
  auto self = shared_from_this();
  // Waits until every queued byte is out, the batch being written included (it has left the
  // queue already but still counts in queued_bytes_), then ends the session.
  asio::co_spawn(
      get_executor(),
      [self, reason, detail = std::move(detail)]() -> asio::awaitable<void> {
        while (!self->closed_ && self->queued_bytes_ > 0) {
          asio::steady_timer pause(self->get_executor(), std::chrono::milliseconds(1));
          co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (self->closed_) co_return;
        co_await self->stream_.shutdown(std::chrono::milliseconds(1000));
        self->close(reason, detail);
      },
      asio::detached);
}

void connection::resume_reading() {
  resume_.cancel();
}

// Ensures at least `at_least` unparsed bytes are in the buffer. False when the peer is gone.
asio::awaitable<bool> connection::fill(std::size_t at_least) {
  if (begin_ > 0 && buffer_.size() - begin_ < at_least) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ - begin_ < at_least) {
    auto [ec, n] =
        co_await stream_.read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_));
    if (ec) {
      if (!closed_) {
        close(ec, is_quiet_close(ec) ? "the peer closed the connection" : ec.message());
      }
      co_return false;
    }
    end_ += n;
    last_received_ = clock::now();
  }
  co_return true;
}

// A body larger than the read buffer is read straight into its own string, as it comes: every
// piece counts as a sign of life, so a large body on a slow link is not taken for silence.
asio::awaitable<bool> connection::read_body(std::uint32_t size, std::string& body) {
  std::size_t have = std::min<std::size_t>(size, end_ - begin_);
  body.assign(reinterpret_cast<const char*>(buffer_.data() + begin_), have);
  begin_ += have;
  if (have == size) co_return true;

  // The body grows with the bytes that arrive, not with the size the header announces, so a
  // peer that announces a large body and sends little makes the node hold little.
  // TODO(perf): resize() zero-fills what the socket overwrites at once.
  while (have < size) {
    if (body.size() == have) {
      body.resize(std::min<std::size_t>(size, std::max(2 * have, body_growth_step)));
    }
    auto [ec, n] = co_await stream_.read_some(asio::buffer(body.data() + have, body.size() - have));
    if (ec) {
      if (!closed_) {
        close(ec, is_quiet_close(ec) ? "the peer closed the connection" : ec.message());
      }
      co_return false;
    }
    have += n;
    last_received_ = clock::now();
  }
  co_return true;
}

asio::awaitable<void> connection::read_loop() {
  while (!closed_) {
    if (!co_await fill(wire::header_size)) co_return;
    auto decoded = wire::decode(std::span<const std::uint8_t, wire::header_size>(
                                    buffer_.data() + begin_, wire::header_size),
                                limits_.max_message_size);
    if (decoded.status != wire::decode_status::ok) {
      auto code = decoded.status == wire::decode_status::bad_version ? errc::version_mismatch
                  : decoded.status == wire::decode_status::too_large ? errc::message_too_large
                                                                     : errc::protocol_error;
      fail_protocol(decoded.problem, code);
      co_return;
    }
    begin_ += wire::header_size;

    std::string body;
    if (!co_await read_body(decoded.header.body_size, body)) co_return;
    if (begin_ == end_) begin_ = end_ = 0;
    dispatch(decoded.header, std::move(body));

    // Back-pressure: stop taking requests until answers drain; TCP then slows the peer down.
    // A peer that is not read from is not silent, so its silence is counted from the resume.
    if (!reading_paused()) continue;
    paused_ = true;
    while (!closed_ && reading_paused()) {
      resume_.expires_after(std::chrono::milliseconds(100));
      co_await resume_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    paused_ = false;
    last_received_ = clock::now();
  }
}

void connection::dispatch(const wire::frame_header& header, std::string body) {
  switch (header.kind) {
    case wire::frame_kind::ping:
      send({.kind = wire::frame_kind::pong}, {});
      return;
    case wire::frame_kind::pong:
      return;
    default:
      on_frame(header, std::move(body));
  }
}

// Tells the peer what was wrong with its bytes, then closes; the frame is not read further.
void connection::fail_protocol(const std::string& problem, errc code) {
  log(log_level::warning, "rpc", label_, ": ", problem, "; closing");
  wire::frame_header error{.kind = wire::frame_kind::error,
                           .status = static_cast<std::uint32_t>(code)};
  send(error, problem);
  close_after_flush(make_error_code(code), problem);
}

asio::awaitable<boost::system::error_code> connection::write_batch(std::deque<outgoing>& batch) {
  for (const auto& item : batch)
    on_writing(item.fields);

  std::vector<asio::const_buffer> buffers;
  if (stream_.is_tls()) {
    build_tls_buffers(batch, buffers);
  } else {
    for (const auto& item : batch) {
      buffers.push_back(asio::buffer(item.header));
      if (!item.body.empty()) buffers.push_back(asio::buffer(item.body));
    }
  }
  auto [ec, n] = co_await stream_.write_all(buffers);
  co_return ec;
}

// Each buffer handed to TLS becomes at least one record, so runs of small frames are copied
// into one buffer; large bodies are written from their own storage rather than copied.
void connection::build_tls_buffers(const std::deque<outgoing>& batch,
                                   std::vector<asio::const_buffer>& buffers) {
  struct span_of_coalesced {
    std::size_t offset, size;
  };
  std::vector<std::variant<span_of_coalesced, const std::string*>> segments;
  coalesced_.clear();
  std::size_t run_start = 0;
  auto end_run = [&] {
    if (coalesced_.size() > run_start) {
      segments.emplace_back(span_of_coalesced{run_start, coalesced_.size() - run_start});
    }
    run_start = coalesced_.size();
  };
  for (const auto& item : batch) {
    coalesced_.append(reinterpret_cast<const char*>(item.header.data()), item.header.size());
    if (item.body.size() < coalesce_limit) {
      coalesced_ += item.body;
      continue;
    }
    end_run();
    segments.emplace_back(&item.body);
  }
  end_run();

  // Only now is coalesced_ stable enough to point into.
  for (const auto& segment : segments) {
    if (auto* run = std::get_if<span_of_coalesced>(&segment)) {
      buffers.push_back(asio::buffer(coalesced_.data() + run->offset, run->size));
    } else {
      buffers.push_back(asio::buffer(*std::get<const std::string*>(segment)));
    }
  }
}

asio::awaitable<void> connection::write_loop() {
  std::deque<outgoing> batch;
  while (!closed_) {
    if (queue_.empty()) {
      wake_writer_.expires_at(clock::time_point::max());
      co_await wake_writer_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    batch.swap(queue_);
    std::size_t bytes = 0;
    for (const auto& item : batch)
      bytes += wire::header_size + item.body.size();

    auto ec = co_await write_batch(batch);
    queued_bytes_ -= std::min(queued_bytes_, bytes);
    batch.clear();
    if (ec) {
      if (!closed_) close(ec, "write failed: " + ec.message());
      co_return;
    }
    last_sent_ = clock::now();
    resume_reading();
    if (coalesced_.capacity() > coalesce_limit) std::string().swap(coalesced_);
  }
}

asio::awaitable<void> connection::keep_alive_loop() {
  auto tick = std::max(std::chrono::milliseconds(50), limits_.keep_alive_interval / 2);
  while (!closed_) {
    keep_alive_.expires_after(tick);
    auto [ec] = co_await keep_alive_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec || closed_) co_return;

    auto now = clock::now();
    if (!paused_ && now - last_received_ >= limits_.dead_peer_timeout) {
      auto ms = limits_.dead_peer_timeout.count();
      log(log_level::warning, "rpc", label_, ": nothing received for ", ms, " ms; closing");
      close(make_error_code(asio::error::timed_out),
            "the peer sent nothing for " + std::to_string(ms) + " ms (deadPeerTimeoutMs)");
      co_return;
    }
    if (now - last_sent_ >= limits_.keep_alive_interval && queue_.empty()) {
      send({.kind = wire::frame_kind::ping}, {});
    }
  }
}

}  // namespace detail
}  // namespace strait

namespace strait::detail {

asio::awaitable<result<frame>> read_frame_within(stream& s, std::chrono::milliseconds deadline,
                                                 std::uint32_t max_body_size) {
  deadline_guard guard(s.get_executor(), deadline, [&s] { s.close(); });

  wire::header_bytes bytes{};
  auto [ec, n] = co_await s.read_exactly(asio::buffer(bytes));
  frame received;
  if (!ec) {
    auto decoded = wire::decode(bytes, max_body_size);
    if (decoded.status != wire::decode_status::ok) {
      auto code = decoded.status == wire::decode_status::bad_version ? errc::version_mismatch
                  : decoded.status == wire::decode_status::too_large ? errc::message_too_large
                                                                     : errc::protocol_error;
      co_return result<frame>::failure(make_error_code(code), decoded.problem);
    }
    received.header = decoded.header;
    received.body.resize(decoded.header.body_size);
    std::tie(ec, n) = co_await s.read_exactly(asio::buffer(received.body));
  }
  if (guard.expired()) {
    co_return result<frame>::failure(
        make_error_code(errc::handshake_timeout),
        "no answer within " + std::to_string(deadline.count()) + " ms (handshakeTimeoutMs)");
  }
  if (ec) co_return result<frame>::failure(ec, ec.message());
  co_return received;
}

asio::awaitable<boost::system::error_code> write_frame(stream& s, wire::frame_header header,
                                                       std::string_view body) {
  header.body_size = static_cast<std::uint32_t>(body.size());
  auto bytes = wire::encode(header);
  std::array<asio::const_buffer, 2> buffers{asio::buffer(bytes), asio::buffer(body)};
  if (s.is_tls()) {
    // One record rather than two.
    std::string joined(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    joined += body;
    auto [ec, n] = co_await s.write_all(asio::buffer(joined));
    co_return ec;
  }
  auto [ec, n] = co_await s.write_all(buffers);
  co_return ec;
}

}  // namespace strait::detail
