// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/log.hpp>

#include <sstream>
#include <string>
#include <utility>

namespace strait::detail {

bool log_enabled(log_level level) noexcept;
void log_line(log_level level, std::string_view module, std::string_view text);

// Concatenates anything that has operator<< into one string.
template <class... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

// Formats and writes one line when a sink is set and the level passes; costs one atomic load
// otherwise.
template <class... Parts>
void log(log_level level, std::string_view module, Parts&&... parts) {
  if (log_enabled(level)) log_line(level, module, cat(std::forward<Parts>(parts)...));
}

}  // namespace strait::detail
