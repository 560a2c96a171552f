// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <system_error>

namespace strait {

// Failures that strait itself reports. Operating-system and OpenSSL failures keep their own
// categories; these name what only strait knows. Each value's comment says when it is reported
// and whether retrying the same operation can help.
enum class errc {
  // Configuration or start-up: a key, file or certificate is wrong. Retrying cannot help.
  invalid_configuration = 1,
  // An endpoint string does not parse. Retrying cannot help.
  invalid_endpoint,
  // An IPv6 address or name was given while `enableIPv6` is 0.
  address_family_disabled,
  // Name resolution failed or returned no address of an allowed family. May be transient.
  resolve_failed,
  // Every address of every endpoint refused or timed out. May be transient.
  connect_failed,
  // The overall connect deadline passed before any address answered.
  connect_timeout,
  // The TLS handshake (or the plain hello exchange) did not finish within its deadline.
  handshake_timeout,
  // The TLS handshake failed: certificate rejected, no common protocol, peer closed.
  tls_handshake_failed,
  // A plain client reached a node that requires TLS (`enableTLS` differs).
  peer_requires_tls,
  // A TLS client reached a node that speaks plain (`enableTLS` differs).
  peer_does_not_speak_tls,
  // The peer sent bytes that are not a strait frame.
  protocol_error,
  // The peer speaks another version of the wire format.
  version_mismatch,
  // A frame announced a body larger than the receiver's `maxMessageSize`.
  message_too_large,
  // The node has no handler for the call's message type.
  unknown_message_type,
  // The call's deadline passed before its response arrived. The request may have been handled.
  call_timeout,
  // The caller cancelled the call. The request may have been handled if it was sent.
  call_cancelled,
  // The connection was lost before the request was written: the node never saw it, so it is
  // safe to retry.
  lost_before_send,
  // The connection was lost after the request was written: the node may have handled it.
  lost_after_send,
  // Too many calls are in flight or queued on the connection; retry later.
  overloaded,
  // The client or node is shutting down; no new calls are taken.
  shutting_down,
  // The node's handler answered with an application error.
  handler_failed,
};

// The category of `errc`, named "strait".
const std::error_category& strait_category() noexcept;

std::error_code make_error_code(errc e) noexcept;

}  // namespace strait

template <>
struct std::is_error_code_enum<strait::errc> : std::true_type {};
