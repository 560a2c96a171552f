// SPDX-License-Identifier: Apache-2.0
// A byte relay from 127.0.0.1 to a port on [::1], so that a test can dial an IPv4 address
// while its node listens on [::1] alone. strait listens on IPv4 only through the wildcard
// address 0.0.0.0, which would open the node to every interface of the host; the relay keeps
// everything on loopback. It forwards bytes unchanged, TLS records included.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <thread>

namespace strait::test_support {

class loopback_relay {
 public:
  using tcp = boost::asio::ip::tcp;

  // Listens on 127.0.0.1 at an ephemeral port and forwards each connection to [::1]:target.
  explicit loopback_relay(std::uint16_t target_port)
      : acceptor_(context_, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0)),
        target_(boost::asio::ip::address_v6::loopback(), target_port) {
    boost::asio::co_spawn(context_, accept_loop(), boost::asio::detached);
    thread_ = std::thread([this] { context_.run(); });
  }

  // Stops the relay's own thread; every relayed connection closes with it.
  ~loopback_relay() {
    context_.stop();
    thread_.join();
  }

  loopback_relay(const loopback_relay&) = delete;
  loopback_relay& operator=(const loopback_relay&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  using socket_ptr = std::shared_ptr<tcp::socket>;

  boost::asio::awaitable<void> accept_loop() {
    const auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    for (;;) {
      auto [ec, accepted] = co_await acceptor_.async_accept(token);
      if (ec) co_return;
      auto near = std::make_shared<tcp::socket>(std::move(accepted));
      auto far = std::make_shared<tcp::socket>(context_);
      auto [connect_ec] = co_await far->async_connect(target_, token);
      if (connect_ec) continue;  // the near socket closes as it goes out of scope
      boost::asio::co_spawn(context_, pump(near, far), boost::asio::detached);
      boost::asio::co_spawn(context_, pump(far, near), boost::asio::detached);
    }
  }

  // Copies `from` to `to` until `from` ends, then passes the end on.
  static boost::asio::awaitable<void> pump(socket_ptr from, socket_ptr to) {
    const auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
    std::array<char, 16384> buffer{};
    for (;;) {
      auto [read_ec, n] = co_await from->async_read_some(boost::asio::buffer(buffer), token);
      if (read_ec) break;
      auto [write_ec, written] =
          co_await boost::asio::async_write(*to, boost::asio::buffer(buffer.data(), n), token);
      if (write_ec) break;
    }
    boost::system::error_code ignored;
    to->shutdown(tcp::socket::shutdown_send, ignored);
  }

  boost::asio::io_context context_;
  tcp::acceptor acceptor_;
  tcp::endpoint target_;
  std::thread thread_;
};

}  // namespace strait::test_support
