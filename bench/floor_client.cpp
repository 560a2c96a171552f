// SPDX-License-Identifier: Apache-2.0
// The floor clients: a closed-loop caller on one non-blocking connection, sequential
// connect-and-call handshakes, and a holder of idle connections. Also the raw OpenSSL client of
// a strait node, which speaks strait's frames.

#include "floor.hpp"
#include "process.hpp"
#include "stats.hpp"

#include <strait/frame.hpp>

#include <fcntl.h>
#include <poll.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace strait_bench {
namespace {

// Sequential connects stop here even when time is left, so that TIME_WAIT sockets stay few.
constexpr std::uint64_t max_connects_per_run = 50'000;
constexpr int io_timeout_ms = 10'000;

bench_clock::duration hard_limit(bench_clock::duration length) {
  return length + std::chrono::seconds(30);
}

// Keeps `inflight` calls of `payload` bytes outstanding on one connection: a new request goes
// out as each response comes back. Requests wait in a ring as large as the window, so that
// nothing is ever moved; responses are parsed in place.
class floor_caller {
 public:
  floor_caller(floor_socket& socket, std::size_t payload, std::size_t inflight)
      : socket_(socket),
        payload_(payload, 'x'),
        frame_size_(floor_header_size + payload),
        inflight_(inflight),
        ring_(inflight * frame_size_),
        input_(std::max<std::size_t>(2 * frame_size_, 256 * 1024)) {}

  run_result run(bench_clock::duration length, bool record);

 private:
  void queue_request();
  void ring_put(const char* data, std::size_t size);
  bool flush(bool& moved);
  bool drain(bool& moved);
  void on_response(const char* frame);
  void fail(const std::string& why);

  floor_socket& socket_;
  std::string payload_;
  std::size_t frame_size_;
  std::size_t inflight_;
  std::vector<char> ring_;
  std::size_t ring_head_ = 0;
  std::size_t ring_used_ = 0;
  std::vector<char> input_;
  std::size_t input_begin_ = 0;
  std::size_t input_end_ = 0;
  std::deque<std::pair<std::uint64_t, bench_clock::time_point>> sent_;
  std::uint64_t next_id_ = 1;
  bench_clock::time_point stop_at_;
  bench_clock::time_point last_answer_;
  bool record_ = false;
  bool broken_ = false;
  run_result result_;
};

run_result floor_caller::run(bench_clock::duration length, bool record) {
  result_ = {};
  record_ = record;
  auto start = bench_clock::now();
  auto cpu_before = own_cpu_time();
  stop_at_ = start + length;
  last_answer_ = start;
  for (std::size_t i = 0; i < inflight_; ++i)
    queue_request();

  auto give_up = start + hard_limit(length);
  while (!sent_.empty() && !broken_ && bench_clock::now() < give_up) {
    bool moved = false;
    if (!flush(moved) || !drain(moved)) break;
    if (moved || socket_.has_buffered_input()) continue;
    pollfd p{socket_.fd(), static_cast<short>(POLLIN | (ring_used_ > 0 ? POLLOUT : 0)), 0};
    poll(&p, 1, 100);
  }
  result_.close(sent_.size(), start, last_answer_, cpu_before);
  return result_;
}

void floor_caller::queue_request() {
  char header[floor_header_size];
  put_floor_header(header, static_cast<std::uint32_t>(payload_.size()), next_id_);
  ring_put(header, sizeof header);
  ring_put(payload_.data(), payload_.size());
  sent_.emplace_back(next_id_++, bench_clock::now());
}

void floor_caller::ring_put(const char* data, std::size_t size) {
  std::size_t tail = (ring_head_ + ring_used_) % ring_.size();
  std::size_t first = std::min(size, ring_.size() - tail);
  std::memcpy(ring_.data() + tail, data, first);
  std::memcpy(ring_.data(), data + first, size - first);
  ring_used_ += size;
}

bool floor_caller::flush(bool& moved) {
  for (int writes = 0; ring_used_ > 0 && writes < 64; ++writes) {
    std::size_t contiguous = std::min(ring_used_, ring_.size() - ring_head_);
    std::size_t put = 0;
    auto status = socket_.write_some(ring_.data() + ring_head_, contiguous, put);
    ring_head_ = (ring_head_ + put) % ring_.size();
    ring_used_ -= put;
    moved = moved || put > 0;
    if (status == io_status::closed || status == io_status::failed) {
      fail(socket_.problem());
      return false;
    }
    if (status != io_status::done) return true;
  }
  return true;
}

bool floor_caller::drain(bool& moved) {
  for (int reads = 0; reads < 64; ++reads) {
    if (input_end_ == input_.size()) {
      std::memmove(input_.data(), input_.data() + input_begin_, input_end_ - input_begin_);
      input_end_ -= input_begin_;
      input_begin_ = 0;
    }
    std::size_t got = 0;
    auto status = socket_.read_some(input_.data() + input_end_, input_.size() - input_end_, got);
    if (status == io_status::want_read || status == io_status::want_write) return true;
    if (status != io_status::done) {
      fail(socket_.problem().empty() ? "the floor node closed the connection" : socket_.problem());
      return false;
    }
    moved = true;
    input_end_ += got;
    while (input_end_ - input_begin_ >= floor_header_size) {
      std::size_t frame = floor_header_size + floor_body_size(input_.data() + input_begin_);
      if (input_end_ - input_begin_ < frame) break;
      on_response(input_.data() + input_begin_);
      input_begin_ += frame;
    }
    if (input_begin_ == input_end_) input_begin_ = input_end_ = 0;
  }
  return true;
}

void floor_caller::on_response(const char* frame) {
  auto now = bench_clock::now();
  if (sent_.empty() || floor_call_id(frame) != sent_.front().first ||
      floor_body_size(frame) != payload_.size()) {
    fail("a response did not match the oldest request (id or size)");
    return;
  }
  if (record_) result_.latencies.record(now - sent_.front().second);
  sent_.pop_front();
  ++result_.calls;
  last_answer_ = now;
  if (now < stop_at_) queue_request();
}

void floor_caller::fail(const std::string& why) {
  broken_ = true;
  if (result_.first_error.empty()) result_.first_error = why;
}

struct session_free {
  void operator()(SSL_SESSION* session) const noexcept { SSL_SESSION_free(session); }
};

// A client context and the session to resume next.
struct tls_client {
  ssl_ctx_ptr context;
  std::unique_ptr<SSL_SESSION, session_free> saved;

  void keep(SSL* ssl) { saved.reset(SSL_get1_session(ssl)); }
};

std::optional<tls_client> client_tls_of(const role_args& args) {
  if (args.security_of() != security::tls) return std::nullopt;
  return tls_client{make_floor_client_context(cert_files::in(args.text("certs"))), nullptr};
}

// A connected, handshaken socket, blocking; a bench_error when it cannot be made.
floor_socket open_connection(const role_args& args, tls_client* tls, bool resume) {
  std::string problem;
  int fd =
      connect_loopback(args.family_of(), static_cast<std::uint16_t>(args.number("port")), problem);
  if (fd < 0) throw bench_error(problem);
  SSL* ssl = nullptr;
  if (tls != nullptr) {
    ssl = new_client_session(tls->context.get(), fd, resume ? tls->saved.get() : nullptr);
    if (ssl == nullptr) throw bench_error("SSL_new failed");
  }
  floor_socket socket(fd, ssl);
  if (socket.handshake() != io_status::done) throw bench_error(socket.problem());
  return socket;
}

// One echo call of `payload` on a blocking floor connection.
bool floor_call(floor_socket& socket, const std::string& payload, std::string& problem) {
  std::vector<char> frame(floor_header_size + payload.size());
  put_floor_header(frame.data(), static_cast<std::uint32_t>(payload.size()), 1);
  std::memcpy(frame.data() + floor_header_size, payload.data(), payload.size());
  if (!socket.write_all(frame.data(), frame.size(), io_timeout_ms) ||
      !socket.read_exactly(frame.data(), frame.size(), io_timeout_ms)) {
    problem = socket.problem();
    return false;
  }
  return floor_body_size(frame.data()) == payload.size();
}

// hello, then one call, as strait's client does on a new connection.
bool strait_call(floor_socket& socket, const std::string& payload, std::string& problem) {
  namespace wire = strait::wire;
  auto hello = wire::encode({.kind = wire::frame_kind::hello});
  wire::header_bytes answer{};
  if (!socket.write_all(reinterpret_cast<const char*>(hello.data()), hello.size(), io_timeout_ms) ||
      !socket.read_exactly(reinterpret_cast<char*>(answer.data()), answer.size(), io_timeout_ms)) {
    problem = "hello: " + socket.problem();
    return false;
  }
  auto decoded = wire::decode(answer, 4096);
  if (decoded.status != wire::decode_status::ok || decoded.header.kind != wire::frame_kind::hello ||
      decoded.header.body_size != 0) {
    problem = "the node did not answer hello: " + decoded.problem;
    return false;
  }

  auto request = wire::encode({.kind = wire::frame_kind::request,
                               .message_type = echo_message_type,
                               .body_size = static_cast<std::uint32_t>(payload.size()),
                               .call_id = 1});
  std::string frame(reinterpret_cast<const char*>(request.data()), request.size());
  frame += payload;
  if (!socket.write_all(frame.data(), frame.size(), io_timeout_ms) ||
      !socket.read_exactly(frame.data(), frame.size(), io_timeout_ms)) {
    problem = "call: " + socket.problem();
    return false;
  }
  std::memcpy(answer.data(), frame.data(), answer.size());
  decoded = wire::decode(answer, 4096);
  return decoded.status == wire::decode_status::ok &&
         decoded.header.kind == wire::frame_kind::response &&
         decoded.header.body_size == payload.size();
}

using call_on_connection = std::function<bool(floor_socket&, const std::string&, std::string&)>;

// Connect, handshake (resuming the last session when asked), one call, close; over and over.
run_result connect_repeatedly(const role_args& args, tls_client* tls, bool resume,
                              const call_on_connection& call, bench_clock::duration length,
                              bool record) {
  std::string payload(static_cast<std::size_t>(args.number("payload")), 'x');
  run_result result;
  auto start = bench_clock::now();
  auto cpu_before = own_cpu_time();
  auto stop_at = start + length;
  auto last = start;
  while (last < stop_at && result.calls + result.errors < max_connects_per_run) {
    std::string problem;
    bool ok = false;
    try {
      auto socket = open_connection(args, tls, resume);
      ok = call(socket, payload, problem);
      if (ok && tls != nullptr) {
        if (SSL_session_reused(socket.ssl()) == 1) ++result.resumed;
        tls->keep(socket.ssl());
      }
    } catch (const bench_error& e) {
      problem = e.what();
    }
    auto now = bench_clock::now();
    if (ok) {
      ++result.calls;
      if (record) result.latencies.record(now - last);
    } else {
      ++result.errors;
      if (result.first_error.empty()) result.first_error = problem;
    }
    last = now;
  }
  result.elapsed_ns = std::chrono::nanoseconds(last - start).count();
  result.client_cpu = own_cpu_time() - cpu_before;
  return result;
}

}  // namespace

int run_floor_load(const role_args& args) {
  auto tls = client_tls_of(args);
  auto socket = open_connection(args, tls ? &*tls : nullptr, false);
  int flags = fcntl(socket.fd(), F_GETFL);
  fcntl(socket.fd(), F_SETFL, flags | O_NONBLOCK);

  floor_caller caller(socket, static_cast<std::size_t>(args.number("payload")),
                      static_cast<std::size_t>(args.number("inflight")));
  return run_measured(
      [&caller](bench_clock::duration length, bool record) { return caller.run(length, record); },
      args);
}

int run_floor_handshakes(const role_args& args) {
  auto tls = client_tls_of(args);
  bool resume = args.number("resume") != 0;
  return run_measured(
      [&](bench_clock::duration length, bool record) {
        return connect_repeatedly(args, tls ? &*tls : nullptr, resume, floor_call, length, record);
      },
      args);
}

int run_raw_strait_handshakes(const role_args& args) {
  auto tls = client_tls_of(args);
  bool resume = args.number("resume") != 0;
  return run_measured(
      [&](bench_clock::duration length, bool record) {
        return connect_repeatedly(args, tls ? &*tls : nullptr, resume, strait_call, length, record);
      },
      args);
}

int run_floor_idle(const role_args& args) {
  auto tls = client_tls_of(args);
  std::string payload(64, 'x');
  std::vector<floor_socket> open;
  auto add_one = [&] {
    auto socket = open_connection(args, tls ? &*tls : nullptr, false);
    std::string problem;
    if (!floor_call(socket, payload, problem)) throw bench_error("idle call: " + problem);
    open.push_back(std::move(socket));
  };

  add_one();
  say("warm");
  if (hear() != "go") return 1;
  auto count = args.number("count");
  for (std::int64_t i = 0; i < count; ++i)
    add_one();
  say("ready");
  while (hear()) {
  }
  return 0;
}

}  // namespace strait_bench
