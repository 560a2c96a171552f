// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/endpoint.hpp>
#include <strait/resolver.hpp>
#include <strait/result.hpp>
#include <strait/stream.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace strait {

namespace asio = boost::asio;

class config;
class tls_config;
class tls_session_cache;

// How to dial one endpoint.
struct connect_options {
  family_policy policy = family_policy::dual_stack;  // enableIPv6
  std::chrono::milliseconds resolve_timeout{5000};   // resolveTimeoutMs
  // connectTimeoutMs: one deadline for every address of the endpoint together.
  std::chrono::milliseconds connect_timeout{5000};
  // happyEyeballsDelayMs: how long an attempt may stay pending before the next address starts
  // in parallel (RFC 8305 recommends 250 ms).
  std::chrono::milliseconds attempt_delay{250};
  std::chrono::milliseconds handshake_timeout{5000};  // handshakeTimeoutMs
  // The client context of tls_config; null for plain connections.
  std::shared_ptr<asio::ssl::context> tls;
  // tlsVerifyPeerName: check the node's subjectAltName against the dialled host.
  bool verify_peer_name = false;
  // Where TLS sessions are kept for resumption; null to always do a full handshake.
  // from_config() makes one, which every connection dialled with these options shares.
  std::shared_ptr<tls_session_cache> sessions;

  static connect_options from_config(const config& cfg, const tls_config& tls);
};

// Races connection attempts to `addresses` in order (Happy Eyeballs, RFC 8305): the first
// starts at once, each next one when the previous has been pending for `attempt_delay` or has
// failed; the first to connect wins and the others are cancelled. `target` names the endpoint
// in messages. Fails with errc::connect_failed listing every address and its error, or
// errc::connect_timeout when `connect_timeout` passes first.
asio::awaitable<result<asio::ip::tcp::socket>> race_connect(
    const endpoint& target, std::vector<asio::ip::tcp::endpoint> addresses,
    const connect_options& options);

// What a TLS failure seen by a client most likely means, as a clause to append to the error:
// the node's certificate failed verification here (check tlsCaPath), or the node answered
// with an alert, which in strait means it refused this client's certificate (check
// tlsCliCertPath and tlsCliKeyPath). With TLS 1.3 the node judges the client certificate only
// after the client has finished its handshake, so the alert can arrive with the first read.
// `ssl` may be null. Empty when the error is not an OpenSSL one.
std::string explain_tls_failure(const std::error_code& ec, const SSL* ssl);

// Resolves `target`, races its addresses and, when options.tls is set, completes a mutual-TLS
// handshake within `handshake_timeout`. Besides the errors of resolve() and race_connect():
// errc::handshake_timeout; errc::peer_does_not_speak_tls when the node answered the handshake
// with plain bytes; errc::tls_handshake_failed with the OpenSSL reason and, for a rejected
// certificate, the verification error and what to check.
asio::awaitable<result<stream>> connect(endpoint target, connect_options options);

}  // namespace strait
