// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/resolver.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace strait::detail {

// What one lookup answered: the addresses in the system's order, or the resolver's error.
struct lookup_answer {
  std::error_code error;
  std::vector<asio::ip::tcp::endpoint> addresses;
};

using lookup_done = std::function<void(lookup_answer)>;

// Starts looking up `host` for `service` (a port number), asking for the families `policy`
// allows, and calls `done` exactly once through `executor`, however late that is. Nothing else
// may be called on `executor` after its execution context is gone, so a lookup that runs on
// another thread must hand its answer back by posting to `executor` from that context's own
// machinery (as asio's resolver does).
using lookup_function =
    std::function<void(const asio::any_io_executor& executor, const std::string& host,
                       const std::string& service, family_policy policy, lookup_done done)>;

// The system's resolver: getaddrinfo through asio::ip::tcp::resolver.
void system_lookup(const asio::any_io_executor& executor, const std::string& host,
                   const std::string& service, family_policy policy, lookup_done done);

// resolve() with its lookup step replaced, so that tests can make a lookup slow, failing or
// answering with chosen addresses without any name server.
asio::awaitable<result<std::vector<asio::ip::tcp::endpoint>>> resolve_with(
    endpoint target, family_policy policy, std::chrono::milliseconds deadline,
    lookup_function lookup);

}  // namespace strait::detail
