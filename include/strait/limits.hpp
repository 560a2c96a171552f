// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace strait {

class config;

// Per-connection bounds, the same on both sides of a connection. The defaults are those of
// the configuration keys named beside each field.
struct connection_limits {
  // maxMessageSize: the largest body sent or accepted. A larger frame received closes the
  // connection unread; a larger request or response is not sent, and fails its own call with
  // errc::message_too_large instead.
  std::uint32_t max_message_size = 16 * 1024 * 1024;
  // maxCallsInFlight: calls sent and not yet answered. A client fails further calls with
  // errc::overloaded; a node stops reading the connection until answers go out.
  std::size_t max_calls_in_flight = 1024;
  // maxSendQueueBytes: bytes queued for writing. Past it a client fails calls with
  // errc::overloaded and a node stops reading the connection.
  std::size_t max_send_queue_bytes = 64 * 1024 * 1024;
  // keepAliveIntervalMs: a side that has sent nothing for this long sends a ping.
  std::chrono::milliseconds keep_alive_interval{5000};
  // deadPeerTimeoutMs: a side that has received nothing for this long closes the connection.
  std::chrono::milliseconds dead_peer_timeout{20000};

  static connection_limits from_config(const config& cfg);
};

}  // namespace strait
