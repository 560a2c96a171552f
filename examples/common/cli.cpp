// SPDX-License-Identifier: Apache-2.0
#include "cli.hpp"

#include <strait/log.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

namespace strait::examples {
namespace {

constexpr const char* default_config_file = "/etc/taos/taos.cfg";

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
  cfg.load_environment("STRAIT_");
  for (const auto& [key, value] : args.overrides)
    cfg.set_from_command_line(key, value);
  return cfg;
}

bool report_problems(const config& cfg, const char* program) {
  for (const auto& problem : cfg.problems()) {
    auto level = problem.level == config_problem::severity::error ? "error" : "warning";
    std::cerr << program << ": " << level << ": " << problem.to_string() << '\n';
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
