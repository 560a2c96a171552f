// SPDX-License-Identifier: Apache-2.0
#include "floor.hpp"

#include <strait/tls.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace strait_bench {
namespace {

// strait's TLS 1.2 suites, so that either version negotiates what strait would.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

[[noreturn]] void fail_tls(const std::string& what) {
  throw bench_error(what + ": " + strait::drain_openssl_errors());
}

ssl_ctx_ptr new_context(const SSL_METHOD* method) {
  ssl_ctx_ptr ctx(SSL_CTX_new(method));
  if (!ctx) fail_tls("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(
      c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(c, 1);
  if (SSL_CTX_set_cipher_list(c, tls12_ciphers) != 1) fail_tls("SSL_CTX_set_cipher_list");
  return ctx;
}

void load_trust_and_identity(SSL_CTX* ctx, const std::string& ca, const std::string& cert,
                             const std::string& key) {
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) fail_tls("loading " + ca);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) fail_tls("loading " + cert);
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    fail_tls("loading " + key);
  }
}

bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

}  // namespace

ssl_ctx_ptr make_floor_server_context(const cert_files& certs) {
  auto ctx = new_context(TLS_server_method());
  load_trust_and_identity(ctx.get(), certs.ca, certs.server_cert, certs.server_key);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (auto* names = SSL_load_client_CA_file(certs.ca.c_str())) {
    SSL_CTX_set_client_CA_list(ctx.get(), names);
  }
  static constexpr unsigned char session_context[] = {'f', 'l', 'o', 'o', 'r'};
  SSL_CTX_set_session_id_context(ctx.get(), session_context, sizeof session_context);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx.get(), 4096);
  return ctx;
}

ssl_ctx_ptr make_floor_client_context(const cert_files& certs) {
  auto ctx = new_context(TLS_client_method());
  load_trust_and_identity(ctx.get(), certs.ca, certs.client_cert, certs.client_key);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

floor_socket::floor_socket(floor_socket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      ssl_(std::exchange(other.ssl_, nullptr)),
      problem_(std::move(other.problem_)) {}

floor_socket::~floor_socket() {
  if (ssl_ != nullptr) {
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) close(fd_);
}

bool floor_socket::has_buffered_input() const noexcept {
  return ssl_ != nullptr && SSL_has_pending(ssl_) == 1;
}

io_status floor_socket::classify(int ret, const char* operation) {
  int error = SSL_get_error(ssl_, ret);
  if (error == SSL_ERROR_WANT_READ) return io_status::want_read;
  if (error == SSL_ERROR_WANT_WRITE) return io_status::want_write;
  if (error == SSL_ERROR_ZERO_RETURN) return io_status::closed;
  if (error == SSL_ERROR_SYSCALL && errno == 0) {
    problem_ = std::string(operation) + ": the peer closed the connection";
    ERR_clear_error();
    return io_status::closed;
  }
  problem_ = std::string(operation) + ": " +
             strait::drain_openssl_errors(error == SSL_ERROR_SYSCALL ? std::strerror(errno)
                                                                     : "no OpenSSL error");
  return io_status::failed;
}

io_status floor_socket::handshake() {
  if (ssl_ == nullptr) return io_status::done;
  errno = 0;
  int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? io_status::done : classify(ret, "TLS handshake");
}

io_status floor_socket::read_some(char* at, std::size_t size, std::size_t& got) {
  got = 0;
  if (ssl_ != nullptr) {
    errno = 0;
    int ret = SSL_read_ex(ssl_, at, size, &got);
    return ret == 1 ? io_status::done : classify(ret, "SSL_read");
  }
  for (int tries = 0; tries < 16; ++tries) {
    auto n = recv(fd_, at, size, 0);
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      return io_status::done;
    }
    if (n == 0) return io_status::closed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return io_status::want_read;
    problem_ = std::string("recv: ") + std::strerror(errno);
    return errno == ECONNRESET ? io_status::closed : io_status::failed;
  }
  return io_status::want_read;
}

io_status floor_socket::write_some(const char* at, std::size_t size, std::size_t& put) {
  put = 0;
  if (ssl_ != nullptr) {
    errno = 0;
    int ret = SSL_write_ex(ssl_, at, size, &put);
    return ret == 1 ? io_status::done : classify(ret, "SSL_write");
  }
  for (int tries = 0; tries < 16; ++tries) {
    auto n = send(fd_, at, size, MSG_NOSIGNAL);
    if (n >= 0) {
      put = static_cast<std::size_t>(n);
      return io_status::done;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return io_status::want_write;
    problem_ = std::string("send: ") + std::strerror(errno);
    return errno == EPIPE || errno == ECONNRESET ? io_status::closed : io_status::failed;
  }
  return io_status::want_write;
}

bool floor_socket::read_exactly(char* at, std::size_t size, int timeout_ms) {
  std::size_t done = 0;
  for (int waits = 0; done < size && waits < 10'000; ++waits) {
    std::size_t got = 0;
    auto status = read_some(at + done, size - done, got);
    done += got;
    if (status == io_status::want_read && !wait_for(fd_, POLLIN, timeout_ms)) break;
    if (status == io_status::want_write && !wait_for(fd_, POLLOUT, timeout_ms)) break;
    if (status == io_status::closed || status == io_status::failed) break;
  }
  if (done < size && problem_.empty()) problem_ = "read timed out or the peer closed";
  return done == size;
}

bool floor_socket::write_all(const char* at, std::size_t size, int timeout_ms) {
  std::size_t done = 0;
  for (int waits = 0; done < size && waits < 10'000; ++waits) {
    std::size_t put = 0;
    auto status = write_some(at + done, size - done, put);
    done += put;
    if (status == io_status::want_read && !wait_for(fd_, POLLIN, timeout_ms)) break;
    if (status == io_status::want_write && !wait_for(fd_, POLLOUT, timeout_ms)) break;
    if (status == io_status::closed || status == io_status::failed) break;
  }
  if (done < size && problem_.empty()) problem_ = "write timed out or the peer closed";
  return done == size;
}

int connect_loopback(family f, std::uint16_t port, std::string& problem) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (f == family::v4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = in6addr_loopback;
    length = sizeof *a;
  }
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    problem = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    problem = std::string("connect to ") + loopback_address(f) + " port " + std::to_string(port) +
              ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  // A node that stops answering fails a blocking read or write instead of holding the client.
  timeval limit{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  return fd;
}

SSL* new_client_session(SSL_CTX* ctx, int fd, SSL_SESSION* resume) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  if (resume != nullptr) SSL_set_session(ssl, resume);
  return ssl;
}

}  // namespace strait_bench
