// SPDX-License-Identifier: Apache-2.0
#include <strait/error.hpp>

namespace strait {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "strait"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_configuration:
        return "invalid configuration";
      case errc::invalid_endpoint:
        return "invalid endpoint";
      case errc::address_family_disabled:
        return "IPv6 is disabled (enableIPv6 0)";
      case errc::resolve_failed:
        return "name resolution failed";
      case errc::connect_failed:
        return "could not connect to any address";
      case errc::connect_timeout:
        return "connect deadline passed";
      case errc::handshake_timeout:
        return "handshake deadline passed";
      case errc::tls_handshake_failed:
        return "TLS handshake failed";
      case errc::peer_requires_tls:
        return "the node requires TLS; enableTLS differs";
      case errc::peer_does_not_speak_tls:
        return "the node does not speak TLS; enableTLS differs";
      case errc::protocol_error:
        return "peer violated the strait wire format";
      case errc::version_mismatch:
        return "peer speaks another wire-format version";
      case errc::message_too_large:
        return "message larger than maxMessageSize";
      case errc::unknown_message_type:
        return "no handler for the message type";
      case errc::call_timeout:
        return "call deadline passed";
      case errc::call_cancelled:
        return "call cancelled";
      case errc::lost_before_send:
        return "connection lost before the request was sent";
      case errc::lost_after_send:
        return "connection lost after the request was sent";
      case errc::overloaded:
        return "too many calls in flight";
      case errc::shutting_down:
        return "shutting down";
      case errc::handler_failed:
        return "the handler reported an error";
    }
    return "unknown strait error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& strait_category() noexcept {
  static const category instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), strait_category()};
}

}  // namespace strait
