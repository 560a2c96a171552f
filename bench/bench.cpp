// SPDX-License-Identifier: Apache-2.0
#include "bench.hpp"

#include <charconv>
#include <cstring>

namespace strait_bench {

std::string_view to_string(side s) noexcept {
  return s == side::strait ? "strait" : "floor";
}

std::string_view to_string(security s) noexcept {
  return s == security::plain ? "plain" : "tls";
}

std::string_view to_string(family f) noexcept {
  return f == family::v4 ? "v4" : "v6";
}

std::optional<side> side_from(std::string_view text) noexcept {
  if (text == "strait") return side::strait;
  if (text == "floor") return side::floor;
  return std::nullopt;
}

std::optional<security> security_from(std::string_view text) noexcept {
  if (text == "plain") return security::plain;
  if (text == "tls") return security::tls;
  return std::nullopt;
}

std::optional<family> family_from(std::string_view text) noexcept {
  if (text == "v4" || text == "ipv4") return family::v4;
  if (text == "v6" || text == "ipv6") return family::v6;
  return std::nullopt;
}

const char* loopback_address(family f) noexcept {
  return f == family::v4 ? "127.0.0.1" : "::1";
}

cert_files cert_files::in(const std::string& dir) {
  return {dir + "/ca.crt", dir + "/server.crt", dir + "/server.key", dir + "/client.crt",
          dir + "/client.key"};
}

role_args role_args::parse(const std::vector<std::string>& words) {
  role_args args;
  for (const auto& word : words) {
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw bench_error("role argument '" + word + "' is not of the form key=value");
    }
    args.values_[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return args;
}

std::vector<std::string> role_args::to_words() const {
  std::vector<std::string> words;
  for (const auto& [key, value] : values_)
    words.push_back(key + "=" + value);
  return words;
}

role_args& role_args::set(const std::string& key, const std::string& value) {
  values_[key] = value;
  return *this;
}

role_args& role_args::set(const std::string& key, std::int64_t value) {
  return set(key, std::to_string(value));
}

const std::string& role_args::text(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw bench_error("role argument '" + key + "' is missing");
  return it->second;
}

std::int64_t role_args::number(const std::string& key) const {
  const auto& raw = text(key);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
  if (ec != std::errc() || end != raw.data() + raw.size()) {
    throw bench_error("role argument " + key + "='" + raw + "' is not an integer");
  }
  return value;
}

side role_args::side_of() const {
  if (auto s = side_from(text("side"))) return *s;
  throw bench_error("role argument side='" + text("side") + "' is neither strait nor floor");
}

security role_args::security_of() const {
  if (auto s = security_from(text("security"))) return *s;
  throw bench_error("role argument security='" + text("security") + "' is neither plain nor tls");
}

family role_args::family_of() const {
  if (auto f = family_from(text("family"))) return *f;
  throw bench_error("role argument family='" + text("family") + "' is neither v4 nor v6");
}

std::chrono::milliseconds role_args::millis(const std::string& key) const {
  return std::chrono::milliseconds(number(key));
}

void put_floor_header(char* at, std::uint32_t body_size, std::uint64_t call_id) noexcept {
  std::memset(at, 0, floor_header_size);
  std::memcpy(at, &body_size, sizeof body_size);
  std::memcpy(at + 4, &call_id, sizeof call_id);
}

std::uint32_t floor_body_size(const char* header) noexcept {
  std::uint32_t size = 0;
  std::memcpy(&size, header, sizeof size);
  return size;
}

std::uint64_t floor_call_id(const char* header) noexcept {
  std::uint64_t id = 0;
  std::memcpy(&id, header + 4, sizeof id);
  return id;
}

std::string size_label(std::size_t bytes) {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0) {
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  }
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " B";
}

std::optional<std::size_t> parse_size(std::string_view text) {
  std::size_t unit = 1;
  if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) unit = 1024;
  if (!text.empty() && (text.back() == 'M' || text.back() == 'm')) unit = 1024 * 1024;
  if (unit != 1) text.remove_suffix(1);
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value * unit;
}

}  // namespace strait_bench
