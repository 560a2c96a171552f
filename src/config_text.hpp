// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

// Text helpers shared by the configuration parser and the key registry. Keys are ASCII and
// compared without regard to case, whatever the process locale.
namespace strait::detail {

inline char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

inline std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

inline bool equal_ci(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Whether two names are the same once underscores and case are ignored, which is how
// environment variables are matched to keys.
inline bool same_folded(std::string_view a, std::string_view b) noexcept {
  std::size_t i = 0;
  std::size_t j = 0;
  while (true) {
    while (i < a.size() && a[i] == '_')
      ++i;
    while (j < b.size() && b[j] == '_')
      ++j;
    if (i == a.size() || j == b.size()) return i == a.size() && j == b.size();
    if (ascii_lower(a[i++]) != ascii_lower(b[j++])) return false;
  }
}

// Text from a file or a command line appears in messages shortened, with control characters and
// every byte outside ASCII escaped as \xNN: junk input then yields a short sentence of plain
// ASCII, since a byte from 0x80 up may be half of a UTF-8 character or a terminal control.
inline std::string printable(std::string_view text) {
  constexpr std::size_t shown = 80;
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (char c : text.substr(0, shown)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  if (text.size() > shown) out += "...";
  return out;
}

inline std::string in_quotes(std::string_view text) {
  return "'" + printable(text) + "'";
}

}  // namespace strait::detail
