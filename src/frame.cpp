// SPDX-License-Identifier: Apache-2.0
#include <strait/frame.hpp>

#include <algorithm>
#include <cstdio>

namespace strait::wire {
namespace {

template <class Int>
void put(std::uint8_t* out, Int value) noexcept {
  for (std::size_t i = 0; i < sizeof(Int); ++i) {
    out[i] = static_cast<std::uint8_t>(value >> (8 * (sizeof(Int) - 1 - i)));
  }
}

template <class Int>
Int get(const std::uint8_t* in) noexcept {
  Int value = 0;
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    value = static_cast<Int>((value << 8) | in[i]);
  return value;
}

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string text;
  char pair[4];
  for (auto b : bytes) {
    std::snprintf(pair, sizeof pair, "%02x", b);
    text += pair;
  }
  return text;
}

bool known_kind(std::uint8_t kind) noexcept {
  return kind >= static_cast<std::uint8_t>(frame_kind::hello) &&
         kind <= static_cast<std::uint8_t>(frame_kind::goaway);
}

decoded_header failed(decode_status status, std::string problem) {
  decoded_header d;
  d.status = status;
  d.problem = std::move(problem);
  return d;
}

}  // namespace

header_bytes encode(const frame_header& header) noexcept {
  header_bytes out{};
  std::copy(magic.begin(), magic.end(), out.begin());
  out[4] = header.version;
  out[5] = static_cast<std::uint8_t>(header.kind);
  put(&out[6], header.flags);
  put(&out[8], header.message_type);
  put(&out[12], header.body_size);
  put(&out[16], header.call_id);
  put(&out[24], header.status);
  return out;
}

decoded_header decode(std::span<const std::uint8_t, header_size> bytes,
                      std::uint32_t max_body_size) {
  if (!std::equal(magic.begin(), magic.end(), bytes.begin())) {
    return failed(
        decode_status::bad_magic,
        "expected a strait frame (magic 53545254), received bytes " + hex(bytes.first(8)));
  }
  if (bytes[4] != current_version) {
    return failed(decode_status::bad_version,
                  "this side speaks strait wire format " + std::to_string(current_version) +
                      ", the peer sent version " + std::to_string(bytes[4]));
  }
  if (!known_kind(bytes[5])) {
    return failed(decode_status::bad_kind, "unknown frame kind " + std::to_string(bytes[5]));
  }

  decoded_header d;
  d.header.version = bytes[4];
  d.header.kind = static_cast<frame_kind>(bytes[5]);
  d.header.flags = get<std::uint16_t>(&bytes[6]);
  d.header.message_type = get<std::uint32_t>(&bytes[8]);
  d.header.body_size = get<std::uint32_t>(&bytes[12]);
  d.header.call_id = get<std::uint64_t>(&bytes[16]);
  d.header.status = get<std::uint32_t>(&bytes[24]);
  if (d.header.body_size > max_body_size) {
    d.status = decode_status::too_large;
    d.problem = "frame body of " + std::to_string(d.header.body_size) +
                " bytes exceeds maxMessageSize " + std::to_string(max_body_size);
  }
  return d;
}

}  // namespace strait::wire
