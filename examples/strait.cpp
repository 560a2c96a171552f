// SPDX-License-Identifier: Apache-2.0
// strait: a client in the style of taos. `strait -h HOST -P PORT -c DIR -s "statement"` runs one
// statement against the node: `ping` (with -n for a series) or
// `show variables [like 'pattern'] [on cluster]`.
#include "common/cli.hpp"
#include "common/protocol.hpp"

#include <strait/client.hpp>
#include <strait/io_threads.hpp>
#include <strait/resolver.hpp>
#include <strait/tls.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <sstream>

namespace {

using namespace strait;
namespace ex = strait::examples;

struct client_args {
  ex::config_source_args config;
  std::string host;       // -h
  std::string port;       // -P
  std::string statement;  // -s
  int count = 1;          // -n: how many pings
};

void usage() {
  std::cerr << "usage: strait [-h HOST] [-P PORT] [-c DIR|FILE] [-o key=value]... -s STATEMENT "
               "[-n COUNT] [-C] [--strict] [-v]\n"
               "  HOST is an FQDN, an IPv4 address or a bracketed IPv6 literal such as [::1]\n"
               "  STATEMENT is `ping` or `show variables [like 'pattern'] [on cluster]`\n";
}

std::optional<client_args> parse_args(int argc, char** argv) {
  client_args args;
  for (int i = 1; i < argc;) {
    int used = ex::take_config_option(argc, argv, i, args.config);
    std::string_view option = argv[i];
    if (used == 0 && i + 1 < argc) {
      std::string value = argv[i + 1];
      used = 2;
      if (option == "-h")
        args.host = value;
      else if (option == "-P")
        args.port = value;
      else if (option == "-s")
        args.statement = value;
      else if (option == "-n")
        args.count = std::clamp(std::atoi(value.c_str()), 1, 100000);
      else
        used = 0;
    }
    if (used <= 0) return std::nullopt;
    i += used;
  }
  return args;
}

std::optional<std::uint16_t> parse_port(const std::string& text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// -h and -P name the node to reach and take the place of firstEp and secondEp. A port in -h
// (`-h [::1]:6030`) is used when -P is absent; without either, serverPort.
bool apply_host_option(const client_args& args, config& cfg, client_options& options) {
  if (args.host.empty() && args.port.empty()) return true;
  auto text = args.host.empty() ? cfg.get_string("fqdn") : args.host;
  auto target = endpoint::parse(text, static_cast<std::uint16_t>(cfg.get_int("serverPort")));
  for (const auto& warning : target.warnings())
    std::cerr << "strait: warning: " << warning << '\n';
  if (!target) {
    std::cerr << "strait: -h: " << target.message() << '\n';
    return false;
  }
  auto node = *target;
  if (!args.port.empty()) {
    auto port = parse_port(args.port);
    if (!port) {
      std::cerr << "strait: -P '" << args.port << "' is not a port; expected 1 to 65535\n";
      return false;
    }
    node = node.with_port(*port);
  }
  if (node.kind() == endpoint::host_kind::ipv6 &&
      family_policy_from(cfg) == family_policy::ipv4_only) {
    std::cerr << "strait: -h " << text
              << " is an IPv6 address but enableIPv6 is 0; set enableIPv6 1\n";
    return false;
  }
  options.endpoints = {node};
  return true;
}

struct outcome {
  std::error_code ec;
  reply answer;
};

outcome call(client& c, std::uint32_t type, std::string body) {
  std::promise<outcome> done;
  c.async_call(type, std::move(body), [&done](std::error_code ec, reply r) {
    done.set_value({ec, std::move(r)});
  });
  return done.get_future().get();
}

int run_pings(client& c, int count) {
  int failures = 0;
  for (int i = 1; i <= count; ++i) {
    auto started = std::chrono::steady_clock::now();
    auto [ec, answer] = call(c, ex::ping_message, "ping " + std::to_string(i));
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
    if (ec) {
      std::printf("ping %d: error: %s\n", i, answer.detail.c_str());
      ++failures;
      if (i == 1) return 1;  // nothing to measure when the node cannot be reached at all
      continue;
    }
    std::printf("ping %d from %s: time=%.3f ms\n", i, answer.node.to_string().c_str(),
                micros / 1000.0);
  }
  return failures == 0 ? 0 : 1;
}

struct show_statement {
  std::string pattern = "%";
  bool on_cluster = false;
};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  return text;
}

// `show variables [like 'pattern'] [on cluster]`, keywords in any case.
std::optional<show_statement> parse_show(const std::string& statement) {
  std::istringstream words(statement);
  std::string show, variables, word;
  words >> show >> variables;
  if (lower(show) != "show" || lower(variables) != "variables") return std::nullopt;
  show_statement parsed;
  while (words >> word) {
    if (lower(word) == "like") {
      auto open = statement.find('\'');
      auto close = statement.rfind('\'');
      if (open == std::string::npos || close == open) return std::nullopt;
      parsed.pattern = statement.substr(open + 1, close - open - 1);
      words.seekg(static_cast<std::streamoff>(close + 1));
    } else if (lower(word) == "on") {
      if (!(words >> word) || lower(word) != "cluster") return std::nullopt;
      parsed.on_cluster = true;
    } else {
      return std::nullopt;
    }
  }
  return parsed;
}

int show_variables(io_threads& threads, const client_options& options, const show_statement& show) {
  // With `on cluster`, every endpoint answers for itself; otherwise the first reachable one.
  std::vector<client_options> targets;
  if (show.on_cluster) {
    for (const auto& node : options.endpoints) {
      auto single = options;
      single.endpoints = {node};
      targets.push_back(single);
    }
  } else {
    targets.push_back(options);
  }

  int status = 0;
  std::printf("%-22s %-24s %-40s %-7s %s\n", "node", "name", "value", "scope", "source");
  for (const auto& target : targets) {
    client c(threads.executor(), target);
    auto [ec, answer] = call(c, ex::show_variables_message, show.pattern);
    if (ec) {
      std::printf("%-22s error: %s\n", answer.node.to_string().c_str(), answer.detail.c_str());
      status = 1;
      continue;
    }
    std::istringstream rows(answer.body);
    for (std::string row; std::getline(rows, row);) {
      std::string name, value, scope, source;
      std::istringstream fields(row);
      std::getline(fields, name, '\t');
      std::getline(fields, value, '\t');
      std::getline(fields, scope, '\t');
      std::getline(fields, source);
      std::printf("%-22s %-24s %-40s %-7s %s\n", answer.node.to_string().c_str(), name.c_str(),
                  value.c_str(), scope.c_str(), source.c_str());
    }
  }
  return status;
}

int run(const client_args& args) {
  if (args.config.verbose) ex::log_to_stderr(true);
  auto cfg = ex::load_config(args.config);
  auto tls = tls_config::from_config(cfg, node_role::client);
  check_family_policy(cfg);
  auto options = client_options::from_config(cfg, tls);
  if (ex::report_problems(cfg, "strait")) return 1;
  if (args.config.print_config) {
    ex::print_config(cfg);
    return 0;
  }
  if (!apply_host_option(args, cfg, options)) return 2;

  io_threads threads(1);
  if (lower(args.statement) == "ping") {
    client c(threads.executor(), options);
    return run_pings(c, args.count);
  }
  if (auto show = parse_show(args.statement)) return show_variables(threads, options, *show);
  std::cerr << "strait: unknown statement '" << args.statement
            << "'; use `ping` or `show variables [like 'pattern'] [on cluster]`\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (!args || (args->statement.empty() && !args->config.print_config)) {
    usage();
    return 2;
  }
  return run(*args);
}
