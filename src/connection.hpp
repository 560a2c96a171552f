// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/frame.hpp>
#include <strait/limits.hpp>
#include <strait/stream.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace strait::detail {

// One framed connection, either side. Reads frames and hands them to on_frame(), writes queued
// frames in batches, answers pings, and closes a connection whose peer has gone silent. Every
// member runs on the stream's executor, which must be a strand when threads share the
// io_context.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(stream s, connection_limits limits, std::uint64_t id, std::string_view side);
  virtual ~connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Starts the reader, the writer and the keep-alive timer.
  void start();
  // Queues one frame. Returns false, queuing nothing, when the connection is closed.
  bool send(wire::frame_header header, std::string body);
  // Closes at once. `reason` and `detail` reach on_closed() exactly once.
  void close(std::error_code reason, std::string detail);
  // Writes what is queued, ends the session politely, then closes.
  void close_after_flush(std::error_code reason, std::string detail);

  bool closed() const noexcept { return closed_; }
  std::size_t queued_bytes() const noexcept { return queued_bytes_; }
  std::uint64_t id() const noexcept { return id_; }
  const stream& transport() const noexcept { return stream_; }
  asio::any_io_executor get_executor() { return stream_.get_executor(); }
  // "conn 12 [::1]:40312" for log lines.
  const std::string& label() const noexcept { return label_; }

 protected:
  // Tells the peer what was wrong with its bytes in a connection-level error frame, then
  // closes once the frame is written.
  void fail_protocol(const std::string& problem, errc code);
  // A complete frame other than ping and pong.
  virtual void on_frame(const wire::frame_header& header, std::string body) = 0;
  // A frame is about to be written; lets a client mark its call as possibly seen by the node.
  virtual void on_writing(const wire::frame_header& /*header*/) {}
  virtual void on_closed(std::error_code reason, const std::string& detail) = 0;
  // Back-pressure: while true, nothing more is read from the peer.
  virtual bool reading_paused() const { return false; }
  // Re-evaluates reading_paused() after the reason for pausing may have gone.
  void resume_reading();

  const connection_limits& limits() const noexcept { return limits_; }

 private:
  struct outgoing {
    wire::header_bytes header;
    wire::frame_header fields;
    std::string body;
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  asio::awaitable<void> keep_alive_loop();
  asio::awaitable<bool> fill(std::size_t at_least);
  asio::awaitable<bool> read_body(std::uint32_t size, std::string& body);
  void dispatch(const wire::frame_header& header, std::string body);
  asio::awaitable<boost::system::error_code> write_batch(std::deque<outgoing>& batch);
  void build_tls_buffers(const std::deque<outgoing>& batch,
                         std::vector<asio::const_buffer>& buffers);

  stream stream_;
  connection_limits limits_;
  std::uint64_t id_;
  std::string label_;

  // Read side: bytes [begin_, end_) of buffer_ are received and not yet parsed.
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  asio::steady_timer resume_;
  // Reading is held back for back-pressure: the peer's silence means nothing meanwhile.
  bool paused_ = false;

  // Write side.
  std::deque<outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  asio::steady_timer wake_writer_;
  std::string coalesced_;
  bool flush_then_close_ = false;

  asio::steady_timer keep_alive_;
  std::chrono::steady_clock::time_point last_received_;
  std::chrono::steady_clock::time_point last_sent_;
  bool closed_ = false;
};

}  // namespace strait::detail

namespace strait::detail {

struct frame {
  wire::frame_header header;
  std::string body;
};

// Reads one whole frame within `deadline` during connection set-up, before the connection's
// reader runs. Fails with errc::handshake_timeout, the decode problem (protocol_error,
// version_mismatch, message_too_large) or the stream's own error.
asio::awaitable<result<frame>> read_frame_within(stream& s, std::chrono::milliseconds deadline,
                                                 std::uint32_t max_body_size);

// Writes one frame at once; for set-up and refusals, where no writer runs yet.
asio::awaitable<boost::system::error_code> write_frame(stream& s, wire::frame_header header,
                                                       std::string_view body = {});

}  // namespace strait::detail
