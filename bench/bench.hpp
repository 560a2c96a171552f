// SPDX-License-Identifier: Apache-2.0
#pragma once

// What the processes of strait-bench share: the names of what is measured, the arguments a
// child role is started with, and the frame of the floor echo.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace strait_bench {

using bench_clock = std::chrono::steady_clock;

// A failure of the benchmark itself (a child that died, a port that could not be bound), with
// a sentence that says which process and what happened.
class bench_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which code answers: strait's server and client, or the floor built from raw sockets or raw
// OpenSSL calls.
enum class side { strait, floor };
enum class security { plain, tls };
enum class family { v4, v6 };

std::string_view to_string(side s) noexcept;
std::string_view to_string(security s) noexcept;
std::string_view to_string(family f) noexcept;
std::optional<side> side_from(std::string_view text) noexcept;
std::optional<security> security_from(std::string_view text) noexcept;
std::optional<family> family_from(std::string_view text) noexcept;

// "127.0.0.1" or "::1": every socket of the benchmark is on one of these.
const char* loopback_address(family f) noexcept;

// The certificates scripts/make-test-certs.sh writes into a directory.
struct cert_files {
  std::string ca;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;

  static cert_files in(const std::string& dir);
};

// The key=value arguments a child role is started with ("payload=65536").
class role_args {
 public:
  static role_args parse(const std::vector<std::string>& words);
  std::vector<std::string> to_words() const;

  role_args& set(const std::string& key, const std::string& value);
  role_args& set(const std::string& key, std::int64_t value);

  // Each getter fails with a bench_error naming the key when it is missing or malformed.
  const std::string& text(const std::string& key) const;
  std::int64_t number(const std::string& key) const;
  side side_of() const;
  security security_of() const;
  family family_of() const;
  std::chrono::milliseconds millis(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
};

// The floor's frame: as long as strait's header (28 bytes), holding the body length and the
// call id in host byte order; the rest is zero.
inline constexpr std::size_t floor_header_size = 28;

void put_floor_header(char* at, std::uint32_t body_size, std::uint64_t call_id) noexcept;
std::uint32_t floor_body_size(const char* header) noexcept;
std::uint64_t floor_call_id(const char* header) noexcept;

// The message type strait's echo handler is registered under.
inline constexpr std::uint32_t echo_message_type = 1;

// "64 B", "1 KiB", "64 KiB", "1 MiB".
std::string size_label(std::size_t bytes);
// "64", "1K", "64K", "1M" or plain digits; nullopt when malformed.
std::optional<std::size_t> parse_size(std::string_view text);

}  // namespace strait_bench
