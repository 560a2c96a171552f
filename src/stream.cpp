// SPDX-License-Identifier: Apache-2.0
#include <strait/stream.hpp>

#include "deadline.hpp"

#include <boost/asio/this_coro.hpp>

namespace strait {
namespace {

endpoint remote_of(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) return {};
  return endpoint::from_address(peer.address().to_string(), peer.port());
}

}  // namespace

stream::stream(tcp_socket socket) : socket_(std::move(socket)), remote_(remote_of(tcp())) {}

stream::stream(tls_socket socket, peer_identity peer)
    : socket_(std::move(socket)), remote_(remote_of(tcp())), peer_(std::move(peer)) {}

stream::tcp_socket& stream::tcp() noexcept {
  if (auto* tls = std::get_if<tls_socket>(&socket_)) return tls->next_layer();
  return std::get<tcp_socket>(socket_);
}

const stream::tcp_socket& stream::tcp() const noexcept {
  if (auto* tls = std::get_if<tls_socket>(&socket_)) return tls->next_layer();
  return std::get<tcp_socket>(socket_);
}

asio::awaitable<stream::io_result> stream::read_some(asio::mutable_buffer buffer) {
  auto token = asio::as_tuple(asio::use_awaitable);
  if (auto* tls = std::get_if<tls_socket>(&socket_)) {
    co_return co_await tls->async_read_some(buffer, token);
  }
  co_return co_await std::get<tcp_socket>(socket_).async_read_some(buffer, token);
}

asio::awaitable<stream::io_result> stream::read_exactly(asio::mutable_buffer buffer) {
  auto token = asio::as_tuple(asio::use_awaitable);
  if (auto* tls = std::get_if<tls_socket>(&socket_)) {
    co_return co_await asio::async_read(*tls, buffer, token);
  }
  co_return co_await asio::async_read(std::get<tcp_socket>(socket_), buffer, token);
}

asio::awaitable<void> stream::shutdown(std::chrono::milliseconds deadline) {
  if (auto* tls = std::get_if<tls_socket>(&socket_)) {
    // close_notify lets the peer tell a clean end from a truncation attack. A peer that never
    // answers must not hold the connection, hence the deadline.
    // TODO(cleanup): a connection's reader may still have a read pending on this stream while
    // async_shutdown runs; the deadline bounds the overlap, but the reader should stop first.
    detail::deadline_guard guard(co_await asio::this_coro::executor, deadline, [this] { close(); });
    co_await tls->async_shutdown(asio::as_tuple(asio::use_awaitable));
  }
  boost::system::error_code ignored;
  tcp().shutdown(asio::socket_base::shutdown_both, ignored);
  close();
}

void stream::close() noexcept {
  boost::system::error_code ignored;
  tcp().close(ignored);
}

}  // namespace strait
