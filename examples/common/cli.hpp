// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/config.hpp>

#include <optional>
#include <string>
#include <vector>

// What straitd and strait share on their command lines: where the configuration comes from,
// how problems are shown, and where log lines go.
namespace strait::examples {

struct config_source_args {
  std::optional<std::string> config_path;                      // -c DIR|FILE
  std::vector<std::pair<std::string, std::string>> overrides;  // -o key=value
  bool print_config = false;                                   // -C
  bool strict = false;                                         // --strict
  bool verbose = false;                                        // -v
  bool help = false;                                           // --help, -?
};

// Consumes the options above from argv[i] (and argv[i+1] for those that take a value).
// Returns the number of arguments used, 0 when argv[i] is not one of them, -1 on a missing value.
int take_config_option(int argc, char** argv, int i, config_source_args& args);

// Built-in defaults, then the file (-c, or /etc/taos/taos.cfg when present), then STRAIT_*
// environment variables, then -o options.
config load_config(const config_source_args& args);

// Writes every problem to stderr, one per line, prefixed with the program name and labelled
// "error" or "warning" as it counts (under --strict, every problem is an error). Returns true
// when any of them is an error.
bool report_problems(const config& cfg, const char* program);

// Prints the effective configuration (key, value, scope, source) to stdout.
void print_config(const config& cfg);

// Log lines to stderr as "time level module: text"; debug lines only when verbose.
void log_to_stderr(bool verbose);

}  // namespace strait::examples
