// SPDX-License-Identifier: Apache-2.0
// strait-bench: strait's echo calls, handshakes and idle connections measured against floors
// built from raw sockets and raw OpenSSL, every node and client in a process of its own on
// loopback. docs/benchmark.md says how to read the output.
//
// The same program runs every process: without --role it is the parent, which starts itself
// again as nodes and clients (`--role node side=strait ...`) and talks to them over pipes.

#include "floor.hpp"
#include "orchestrator.hpp"
#include "process.hpp"
#include "report.hpp"
#include "strait_side.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace strait_bench {
namespace {

constexpr const char* usage_text = R"(usage: strait-bench [options]

Measures strait against floors (raw sockets, raw OpenSSL) on 127.0.0.1 and ::1, each node
and client in its own process, and prints tables; see docs/benchmark.md.

  --quick              about one minute: 64 B and 64 KiB, 2 rounds of 0.5 s
  --payloads LIST      echo sizes, e.g. 64,1K,64K,1M (default: all four)
  --inflight LIST      calls in flight, e.g. 1,32 (default)
  --security LIST      plain,tls (default both)
  --families LIST      v4,v6 (default both)
  --duration SECONDS   measured time per side, case and round (default 1.5; quick 0.5)
  --handshake-duration SECONDS  the same for handshakes (default 1; quick 0.5)
  --rounds N           rounds per case, strait and floor alternating (default 3; quick 2)
  --idle N             idle connections for the memory figure (default 200)
  --no-echo, --no-handshakes, --no-memory   leave a part out
  --pin                node on CPU 0, clients on CPU 1
  --json FILE          also write every figure as JSON
  --certs DIR          certificates from scripts/make-test-certs.sh (default: made afresh)
)";

[[noreturn]] void usage_error(const std::string& problem) {
  std::fprintf(stderr, "strait-bench: %s\n\n%s", problem.c_str(), usage_text);
  std::exit(2);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

template <class T, class Parse>
std::vector<T> parse_list(const std::string& option, const std::string& text, Parse parse) {
  std::vector<T> values;
  for (const auto& item : split_list(text)) {
    auto value = parse(item);
    if (!value) usage_error(option + ": '" + item + "' is not understood");
    values.push_back(*value);
  }
  if (values.empty()) usage_error(option + " needs at least one value");
  return values;
}

std::chrono::milliseconds parse_seconds(const std::string& option, const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !(value >= 0.05) || value > 600) {
    usage_error(option + ": '" + text + "' is not a number of seconds from 0.05 to 600");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(value * 1000));
}

int parse_count(const std::string& option, const std::string& text, int low, int high) {
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < low || value > high) {
    usage_error(option + ": '" + text + "' is not a whole number from " + std::to_string(low) +
                " to " + std::to_string(high));
  }
  return static_cast<int>(value);
}

void apply_quick(bench_options& options) {
  options.quick = true;
  options.payloads = {64, 64 * 1024};
  options.duration = std::chrono::milliseconds(500);
  options.handshake_duration = std::chrono::milliseconds(500);
  options.rounds = 2;
}

// --quick sets defaults; options given explicitly win whatever their order.
bench_options parse_options(const std::vector<std::string>& words) {
  bench_options options;
  for (const auto& word : words) {
    if (word == "--quick") apply_quick(options);
  }
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto& word = words[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= words.size()) usage_error(word + " needs a value");
      return words[++i];
    };
    if (word == "--quick") continue;
    if (word == "--help" || word == "-h") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else if (word == "--payloads") {
      options.payloads = parse_list<std::size_t>(word, value(), [](const std::string& item) {
        auto size = parse_size(item);
        return size && *size <= 16 * 1024 * 1024 - 64 ? size : std::nullopt;
      });
    } else if (word == "--inflight") {
      options.inflight = parse_list<std::size_t>(word, value(), [](const std::string& item) {
        auto n = parse_size(item);
        return n && *n <= 256 ? n : std::nullopt;
      });
    } else if (word == "--security") {
      options.securities = parse_list<security>(word, value(), security_from);
    } else if (word == "--families") {
      options.families = parse_list<family>(word, value(), family_from);
    } else if (word == "--duration") {
      options.duration = parse_seconds(word, value());
    } else if (word == "--handshake-duration") {
      options.handshake_duration = parse_seconds(word, value());
    } else if (word == "--rounds") {
      options.rounds = parse_count(word, value(), 1, 20);
    } else if (word == "--idle") {
      options.idle_connections = parse_count(word, value(), 1, 800);
    } else if (word == "--no-echo") {
      options.echo = false;
    } else if (word == "--no-handshakes") {
      options.handshakes = false;
    } else if (word == "--no-memory") {
      options.memory = false;
    } else if (word == "--pin") {
      options.pin = true;
    } else if (word == "--json") {
      options.json_path = value();
    } else if (word == "--certs") {
      options.certs_dir = value();
    } else {
      usage_error("unknown option '" + word + "'");
    }
  }
  return options;
}

// A child process: runs its role and reports a failure as "error <sentence>" to the parent.
int run_role(const std::string& role, const std::vector<std::string>& words) {
  static const std::map<std::string, std::function<int(const role_args&)>> by_side{
      {"node strait", run_strait_server},
      {"node floor", run_floor_server},
      {"load strait", run_strait_load},
      {"load floor", run_floor_load},
      {"handshakes strait", run_strait_handshakes},
      {"handshakes floor", run_floor_handshakes},
      {"raw-strait-handshakes strait", run_raw_strait_handshakes},
      {"idle strait", run_strait_idle},
      {"idle floor", run_floor_idle},
  };
  try {
    auto args = role_args::parse(words);
    exit_after(args.millis("lifetime_ms"));
    auto it = by_side.find(role + " " + args.text("side"));
    if (it == by_side.end()) throw bench_error("no role '" + role + "' for that side");
    return it->second(args);
  } catch (const std::exception& e) {
    say(std::string("error ") + e.what());
    return 1;
  }
}

int run_parent(const std::vector<std::string>& words) {
  auto options = parse_options(words);
  install_parent_signal_handlers();
  std::fprintf(stderr, "strait-bench: about %.0f s\n", expected_seconds(options));
  try {
    auto report = run_benchmark(options);
    print_report(stdout, report);
    if (!options.json_path.empty()) write_json(options.json_path, report);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strait-bench: %s\n", e.what());
    return interrupted_by() != 0 ? 128 + interrupted_by() : 1;
  }
  return 0;
}

}  // namespace
}  // namespace strait_bench

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.size() >= 2 && words[0] == "--role") {
    return strait_bench::run_role(words[1], {words.begin() + 2, words.end()});
  }
  return strait_bench::run_parent(words);
}
