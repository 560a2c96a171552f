// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <system_error>

namespace strait {

// Failures that strait itself reports. The numeric values travel in error frames
// (docs/wire-format.md) and never change. Operating-system and OpenSSL failures keep their own
// categories; these name what only strait knows. Each value's comment says when it is reported
// and whether retrying the same operation can help.
enum class errc {
  // Configuration or start-up: a key, file or certificate is wrong. Retrying cannot help.
  invalid_configuration = 1,
  // An endpoint string does not parse. Retrying cannot help.
  invalid_endpoint = 2,
  // An IPv6 address or name was given while `enableIPv6` is 0.
  address_family_disabled = 3,
  // Name resolution failed or returned no address of an allowed family. May be transient.
  resolve_failed = 4,
  // Every address of every endpoint refused or timed out. May be transient.
  connect_failed = 5,
  // The overall connect deadline passed before any address answered.
  connect_timeout = 6,
  // The TLS handshake (or the plain hello exchange) did not finish within its deadline.
  handshake_timeout = 7,
  // The TLS handshake failed: certificate rejected, no common protocol, peer closed.
  tls_handshake_failed = 8,
  // A plain client reached a node that requires TLS (`enableTLS` differs).
  peer_requires_tls = 9,
  // A TLS client reached a node that speaks plain (`enableTLS` differs).
  peer_does_not_speak_tls = 10,
  // The peer sent bytes that are not a strait frame.
  protocol_error = 11,
  // The peer speaks another version of the wire format.
  version_mismatch = 12,
  // A frame announced a body larger than the receiver's `maxMessageSize`.
  message_too_large = 13,
  // The node has no handler for the call's message type.
  unknown_message_type = 14,
  // The call's deadline passed before its response arrived. The request may have been handled.
  call_timeout = 15,
  // The caller cancelled the call. The request may have been handled if it was sent.
  call_cancelled = 16,
  // The connection was lost before the request was written: the node never saw it, so it is
  // safe to retry.
  lost_before_send = 17,
  // The connection was lost after the request was written: the node may have handled it.
  lost_after_send = 18,
  // Too many calls are in flight or queued on the connection; retry later.
  overloaded = 19,
  // The client or node is shutting down; no new calls are taken.
  shutting_down = 20,
  // The node's handler answered with an application error.
  handler_failed = 21,
};

// The category of `errc`, named "strait".
const std::error_category& strait_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

}  // namespace strait

template <>
struct std::is_error_code_enum<strait::errc> : std::true_type {};
