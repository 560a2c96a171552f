// SPDX-License-Identifier: Apache-2.0
// The smallest embedding of strait: a node and a client in one process, talking over [::1]
// with an ephemeral port. Exits 0 when the call came back.
#include <strait/client.hpp>
#include <strait/io_threads.hpp>
#include <strait/server.hpp>

#include <boost/asio/use_future.hpp>

#include <cstdio>

int main() {
  namespace asio = boost::asio;
  strait::io_threads threads(1);

  // A node on [::1], any free port, plain TCP. tls_config::from_config gives mutual TLS.
  strait::server_options node_options;
  node_options.listen.ipv6_address = "::1";
  node_options.listen.ipv6_only = true;
  node_options.listen.port = 0;
  strait::server node(threads.executor(), node_options);
  node.handle(
      1, [](std::string request, strait::responder answer) { answer.reply("hello, " + request); });
  if (auto started = node.start(); !started) {
    std::fprintf(stderr, "%s\n", started.message().c_str());
    return 1;
  }

  // A client of that node. Completion tokens work as in Asio. The error is a std::error_code,
  // so use_future and use_awaitable yield (error, reply) tuples and never throw.
  strait::client_options client_options;
  client_options.endpoints = {strait::endpoint::from_address("::1", node.port())};
  strait::client caller(threads.executor(), client_options);
  auto pending = caller.async_call(1, "strait", asio::use_future);
  auto [ec, answer] = pending.get();
  if (ec) {
    std::fprintf(stderr, "call failed: %s\n", answer.detail.c_str());
    return 1;
  }
  std::printf("%s (from %s)\n", answer.body.c_str(), answer.node.to_string().c_str());
  return 0;
}
