// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

// The frame header of docs/wire-format.md: encoding and checked decoding.
namespace strait::wire {

inline constexpr std::array<std::uint8_t, 4> magic = {'S', 'T', 'R', 'T'};
inline constexpr std::uint8_t current_version = 1;
inline constexpr std::size_t header_size = 28;
// The first byte of a TLS handshake record.
inline constexpr std::uint8_t tls_handshake_byte = 0x16;

enum class frame_kind : std::uint8_t {
  hello = 1,
  request = 2,
  response = 3,
  error = 4,
  ping = 5,
  pong = 6,
  goaway = 7,
};

struct frame_header {
  frame_kind kind = frame_kind::hello;
  std::uint8_t version = current_version;
  std::uint16_t flags = 0;
  std::uint32_t message_type = 0;
  std::uint32_t body_size = 0;
  std::uint64_t call_id = 0;
  std::uint32_t status = 0;
};

using header_bytes = std::array<std::uint8_t, header_size>;

header_bytes encode(const frame_header& header) noexcept;

enum class decode_status { ok, bad_magic, bad_version, bad_kind, too_large };

struct decoded_header {
  decode_status status = decode_status::ok;
  frame_header header;
  // For anything but ok: a sentence for the error frame and the log, with the bytes seen.
  std::string problem;
};

// Checks magic, version, kind and the body size against `max_body_size`, in that order, so
// that a peer of another version is told about the version rather than anything else.
decoded_header decode(std::span<const std::uint8_t, header_size> bytes,
                      std::uint32_t max_body_size);

}  // namespace strait::wire
