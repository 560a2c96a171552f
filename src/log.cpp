// SPDX-License-Identifier: Apache-2.0
#include "log_internal.hpp"

#include <atomic>
#include <mutex>

namespace strait {
namespace {

struct sink_state {
  std::mutex mutex;
  log_sink sink;
  std::atomic<bool> has_sink{false};
  std::atomic<log_level> level{log_level::info};
};

sink_state& state() {
  static sink_state instance;
  return instance;
}

}  // namespace

void set_log_sink(log_sink sink) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.has_sink = static_cast<bool>(sink);
  s.sink = std::move(sink);
}

void set_log_level(log_level level) {
  state().level = level;
}

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
  }
  return "unknown";
}

namespace detail {

bool log_enabled(log_level level) noexcept {
  auto& s = state();
  return s.has_sink.load(std::memory_order_relaxed) && level >= s.level.load();
}

void log_line(log_level level, std::string_view module, std::string_view text) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (s.sink) s.sink(log_record{level, module, text});
}

}  // namespace detail
}  // namespace strait
