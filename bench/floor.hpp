// SPDX-License-Identifier: Apache-2.0
#pragma once

// The floors: what the same echo costs with nothing between the application and the kernel
// (raw sockets) or OpenSSL (SSL_read and SSL_write on the socket), to divide strait's figures
// by. Also the raw OpenSSL client that measures resumed handshakes against a strait node.

#include "bench.hpp"

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>

namespace strait_bench {

struct ssl_ctx_free {
  void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

// Contexts with strait's settings (TLS 1.2 floor, the same TLS 1.2 suites, OpenSSL's TLS 1.3
// defaults, no compression or renegotiation, released idle buffers, server session cache) and
// the same certificates; both sides verify the peer. Read-ahead is on, as Asio's stream reads
// whole socket buffers too. Fail with a bench_error carrying the OpenSSL error queue.
ssl_ctx_ptr make_floor_server_context(const cert_files& certs);
ssl_ctx_ptr make_floor_client_context(const cert_files& certs);

enum class io_status { done, want_read, want_write, closed, failed };

// A connected TCP socket, with or without an OpenSSL session on it. Blocking or not, as the
// descriptor is; `want_read`/`want_write` only come from a non-blocking one.
class floor_socket {
 public:
  floor_socket(int fd, SSL* ssl) noexcept : fd_(fd), ssl_(ssl) {}
  floor_socket(floor_socket&& other) noexcept;
  floor_socket& operator=(floor_socket&&) = delete;
  floor_socket(const floor_socket&) = delete;
  // Frees the session without a close_notify but marked as shut down, so that it stays
  // resumable, and closes the descriptor.
  ~floor_socket();

  int fd() const noexcept { return fd_; }
  SSL* ssl() const noexcept { return ssl_; }
  // True when OpenSSL holds decrypted bytes that poll() cannot see.
  bool has_buffered_input() const noexcept;

  io_status handshake();
  io_status read_some(char* at, std::size_t size, std::size_t& got);
  io_status write_some(const char* at, std::size_t size, std::size_t& put);
  // Blocking helpers for the handshake and idle clients: whole buffers, waiting with poll()
  // (at most `timeout_ms` per wait) when the descriptor is non-blocking.
  bool read_exactly(char* at, std::size_t size, int timeout_ms);
  bool write_all(const char* at, std::size_t size, int timeout_ms);
  // The reason of the last failure: errno or the OpenSSL error queue.
  const std::string& problem() const noexcept { return problem_; }

 private:
  io_status classify(int ret, const char* operation);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string problem_;
};

// A TCP connection to the loopback address of `f` at `port` (blocking, TCP_NODELAY); -1 with
// `problem` set on failure.
int connect_loopback(family f, std::uint16_t port, std::string& problem);
// A TLS client session on `fd` (not yet handshaken); `resume` is offered when not null.
SSL* new_client_session(SSL_CTX* ctx, int fd, SSL_SESSION* resume);

// Child roles. Each reads its arguments, says what the parent waits for on stdout, and returns
// the process exit status.
int run_floor_server(const role_args& args);
int run_floor_load(const role_args& args);
int run_floor_handshakes(const role_args& args);
int run_floor_idle(const role_args& args);
// A raw OpenSSL client speaking strait's wire format (hello, then one call) to a strait node,
// resuming sessions when asked: the node's side of resumption, before strait's connector can
// resume sessions itself.
int run_raw_strait_handshakes(const role_args& args);

}  // namespace strait_bench
