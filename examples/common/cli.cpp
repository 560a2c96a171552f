// SPDX-License-Identifier: Apache-2.0
#include "cli.hpp"

#include <strait/log.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>

namespace strait::examples {
namespace {

constexpr const char* default_config_file = "/etc/taos/taos.cfg";

// Variables that strait's test and demo scripts read. They share the STRAIT_ prefix but are not
// configuration keys, so they must not be reported as misspelt keys (nor stop a --strict run).
// Other unknown STRAIT_ names still are: they are most likely typos.
constexpr std::array<std::string_view, 3> script_variables = {
    "STRAIT_REQUIRE_NETNS", "STRAIT_DEMO_PORT", "STRAIT_NETNS_KEEP"};

// The process environment without the script variables, null-terminated like `environ`.
std::vector<const char*> environment_for_config() {
  std::vector<const char*> kept;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const std::string_view name = text.substr(0, text.find('='));
    if (std::find(script_variables.begin(), script_variables.end(), name) ==
        script_variables.end()) {
      kept.push_back(*entry);
    }
  }
  kept.push_back(nullptr);
  return kept;
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  char with_millis[40];
  std::snprintf(with_millis, sizeof with_millis, "%s.%03d", text, static_cast<int>(millis.count()));
  return with_millis;
}

}  // namespace

int take_config_option(int argc, char** argv, int i, config_source_args& args) {
  std::string_view option = argv[i];
  if (option == "-C") return args.print_config = true, 1;
  if (option == "--strict") return args.strict = true, 1;
  if (option == "-v") return args.verbose = true, 1;
  if (option == "--help" || option == "-?") return args.help = true, 1;
  if (option != "-c" && option != "-o") return 0;
  if (i + 1 >= argc) return -1;

  std::string value = argv[i + 1];
  if (option == "-c") {
    args.config_path = value;
  } else {
    auto equals = value.find('=');
    auto key = value.substr(0, equals);
    auto setting = equals == std::string::npos ? std::string() : value.substr(equals + 1);
    args.overrides.emplace_back(key, setting);
  }
  return 2;
}

config load_config(const config_source_args& args) {
  config cfg;
  cfg.set_strict(args.strict);
  if (args.config_path) {
    cfg.load_file(*args.config_path, true);
  } else {
    cfg.load_file(default_config_file, false);
  }
  cfg.load_environment("STRAIT_", environment_for_config().data());
  for (const auto& [key, value] : args.overrides)
    cfg.set_from_command_line(key, value);
  return cfg;
}

bool report_problems(const config& cfg, const char* program) {
  for (const auto& problem : cfg.problems()) {
    // Under --strict every problem refuses start-up, so every one is labelled an error.
    const bool is_error = cfg.strict() || problem.level == config_problem::severity::error;
    std::cerr << program << ": " << (is_error ? "error" : "warning") << ": " << problem.to_string()
              << '\n';
  }
  return cfg.has_errors();
}

void print_config(const config& cfg) {
  for (const auto& row : cfg.show_variables("%")) {
    std::printf("%-24s %-36s %-7s %s\n", row.name.c_str(),
                row.value.empty() ? "\"\"" : row.value.c_str(), row.scope.c_str(),
                row.source.c_str());
  }
}

void log_to_stderr(bool verbose) {
  set_log_level(verbose ? log_level::debug : log_level::info);
  set_log_sink([](const log_record& record) {
    std::cerr << timestamp() << ' ' << to_string(record.level) << ' ' << record.module << ": "
              << record.text << '\n';
  });
}

}  // namespace strait::examples
