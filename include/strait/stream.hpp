// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/endpoint.hpp>
#include <strait/tls.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <system_error>
#include <tuple>
#include <variant>

namespace strait {

namespace asio = boost::asio;

// An established byte stream to a peer: a TCP socket, or mutual TLS over one. The RPC layer
// reads and writes through it without knowing which. Operations report errors as values (no
// exceptions), as tuples (error_code, bytes).
class stream {
 public:
  using tcp_socket = asio::ip::tcp::socket;
  using tls_socket = asio::ssl::stream<tcp_socket>;
  using io_result = std::tuple<boost::system::error_code, std::size_t>;

  explicit stream(tcp_socket socket);
  // An established TLS session; `peer` is the verified identity of the other side.
  stream(tls_socket socket, peer_identity peer);

  stream(stream&&) noexcept = default;
  stream& operator=(stream&&) noexcept = default;

  bool is_tls() const noexcept { return std::holds_alternative<tls_socket>(socket_); }
  tcp_socket& tcp() noexcept;
  const tcp_socket& tcp() const noexcept;
  asio::any_io_executor get_executor() { return tcp().get_executor(); }

  // The peer's address as seen on the socket, and its identity when TLS is on.
  const endpoint& remote() const noexcept { return remote_; }
  const peer_identity& peer() const noexcept { return peer_; }

  // Reads at least one byte into `buffer`.
  asio::awaitable<io_result> read_some(asio::mutable_buffer buffer);
  // Reads exactly asio::buffer_size(buffer) bytes unless an error ends the read.
  asio::awaitable<io_result> read_exactly(asio::mutable_buffer buffer);
  // Writes every byte of `buffers` unless an error ends the write. For TLS, each buffer becomes
  // at least one record, so callers coalesce small frames into one buffer first.
  // TODO(perf): asio::ssl::stream encrypts and sends one record per asynchronous step through a
  // 17 KiB BIO pair (a 1 MiB body: 65 sends, 132 epoll waits); encrypting a whole batch into
  // one buffer and sending it at once would bring large TLS messages to the raw-OpenSSL floor.
  template <class ConstBufferSequence>
  asio::awaitable<io_result> write_all(const ConstBufferSequence& buffers) {
    auto token = asio::as_tuple(asio::use_awaitable);
    if (auto* tls = std::get_if<tls_socket>(&socket_)) {
      co_return co_await asio::async_write(*tls, buffers, token);
    }
    // Asio's default completion condition hands the kernel at most 64 KiB per call; a large
    // body goes out in as few system calls as the socket takes.
    auto uncapped = [](const boost::system::error_code& ec, std::size_t) -> std::size_t {
      return ec ? 0 : std::numeric_limits<std::size_t>::max();
    };
    co_return co_await asio::async_write(std::get<tcp_socket>(socket_), buffers, uncapped, token);
  }

  // Ends the session politely: TLS close_notify (bounded by `deadline`), then TCP shutdown and
  // close. Errors are ignored: the peer may already be gone.
  asio::awaitable<void> shutdown(std::chrono::milliseconds deadline);
  // Closes at once; pending operations complete with operation_aborted.
  void close() noexcept;

 private:
  std::variant<tcp_socket, tls_socket> socket_;
  endpoint remote_;
  peer_identity peer_;
};

}  // namespace strait
