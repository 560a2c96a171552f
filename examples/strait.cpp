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
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace {

using namespace strait;
namespace ex = strait::examples;

// The most pings one run sends: -n above it is refused rather than cut down.
constexpr int max_pings = 100000;

struct client_args {
  ex::config_source_args config;
  std::optional<std::string> host;    // -h
  std::optional<std::uint16_t> port;  // -P
  std::string statement;              // -s
  int count = 1;                      // -n: how many pings
};

void usage(std::ostream& out) {
  out << "usage: strait [-h HOST] [-P PORT] [-c DIR|FILE] [-o key=value]... -s STATEMENT "
         "[-n COUNT] [-C] [--strict] [-v] [--help]\n"
         "  HOST is an FQDN, an IPv4 address or a bracketed IPv6 literal such as [::1]\n"
         "  STATEMENT is `ping` or `show variables [like 'pattern'] [on cluster]`\n"
         "  COUNT is how many pings to send, from 1 to "
      << max_pings << " (default 1)\n";
}

std::optional<std::uint16_t> parse_port(const std::string& text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

std::optional<int> parse_count(const std::string& text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max_pings) {
    return std::nullopt;
  }
  return value;
}

// Takes the value of -h, -P, -s or -n. Returns why the value cannot be used, or nothing.
std::optional<std::string> take_value(std::string_view option, const std::string& value,
                                      client_args& args) {
  if (option == "-h") {
    if (value.empty()) return "-h '' names no host; give an FQDN, an IPv4 address or [IPv6]";
    args.host = value;
  } else if (option == "-P") {
    args.port = parse_port(value);
    if (!args.port) return "-P '" + value + "' is not a port; expected 1 to 65535";
  } else if (option == "-s") {
    args.statement = value;
  } else {
    auto count = parse_count(value);
    if (!count) {
      return "-n '" + value + "': expected a count from 1 to " + std::to_string(max_pings);
    }
    args.count = *count;
  }
  return std::nullopt;
}

// The options, or nothing: with `error` set when a value cannot be used, left empty when the
// command line does not follow the usage.
std::optional<client_args> parse_args(int argc, char** argv, std::string& error) {
  client_args args;
  for (int i = 1; i < argc;) {
    int used = ex::take_config_option(argc, argv, i, args.config);
    std::string_view option = argv[i];
    const bool takes_value = option == "-h" || option == "-P" || option == "-s" || option == "-n";
    if (used == 0 && takes_value && i + 1 < argc) {
      if (auto problem = take_value(option, argv[i + 1], args)) {
        error = std::move(*problem);
        return std::nullopt;
      }
      used = 2;
    }
    if (used <= 0) return std::nullopt;
    i += used;
  }
  return args;
}

// -h and -P name the node to reach and take the place of firstEp and secondEp. A port in -h
// (`-h [::1]:6030`) is used when -P is absent; without either, serverPort.
bool apply_host_option(const client_args& args, config& cfg, client_options& options) {
  if (!args.host && !args.port) return true;
  auto text = args.host.value_or(cfg.get_string("fqdn"));
  auto target = endpoint::parse(text, static_cast<std::uint16_t>(cfg.get_int("serverPort")));
  for (const auto& warning : target.warnings())
    std::cerr << "strait: warning: " << warning << '\n';
  if (!target) {
    std::cerr << "strait: -h: " << target.message() << '\n';
    return false;
  }
  auto node = *target;
  if (args.port) node = node.with_port(*args.port);
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

// Reads a statement from the front: keywords in any case, and SQL string literals.
class statement_reader {
 public:
  explicit statement_reader(std::string_view text) : rest_(text) {}

  // Takes the next word when it is `word`, in any case. A word is a run of letters, so
  // `like'%tls%'` is the keyword and then the pattern, as in SQL.
  bool keyword(std::string_view word) {
    skip_blanks();
    std::size_t length = 0;
    while (length < rest_.size() && std::isalpha(static_cast<unsigned char>(rest_[length])))
      ++length;
    if (lower(std::string(rest_.substr(0, length))) != word) return false;
    rest_.remove_prefix(length);
    return true;
  }

  // A text in single quotes, where '' stands for one quote; nothing when there is no opening
  // or no closing quote.
  std::optional<std::string> quoted() {
    skip_blanks();
    if (rest_.empty() || rest_.front() != '\'') return std::nullopt;
    std::string text;
    for (std::size_t i = 1; i < rest_.size(); ++i) {
      if (rest_[i] != '\'') {
        text += rest_[i];
      } else if (i + 1 < rest_.size() && rest_[i + 1] == '\'') {
        text += '\'';
        ++i;
      } else {
        rest_.remove_prefix(i + 1);
        return text;
      }
    }
    return std::nullopt;
  }

  bool at_end() {
    skip_blanks();
    return rest_.empty();
  }

 private:
  void skip_blanks() {
    while (!rest_.empty() && std::isspace(static_cast<unsigned char>(rest_.front())))
      rest_.remove_prefix(1);
  }

  std::string_view rest_;
};

bool is_show_variables(std::string_view statement) {
  statement_reader reader(statement);
  return reader.keyword("show") && reader.keyword("variables");
}

// `show variables [like 'pattern'] [on cluster]`, keywords in any case, each clause at most
// once. The pattern goes to the node as written: `like ''` matches no name, as in SQL.
std::optional<show_statement> parse_show(std::string_view statement) {
  statement_reader reader(statement);
  if (!reader.keyword("show") || !reader.keyword("variables")) return std::nullopt;
  show_statement parsed;
  bool has_like = false;
  while (!reader.at_end()) {
    if (!has_like && reader.keyword("like")) {
      auto pattern = reader.quoted();
      if (!pattern) return std::nullopt;
      parsed.pattern = std::move(*pattern);
      has_like = true;
    } else if (!parsed.on_cluster && reader.keyword("on") && reader.keyword("cluster")) {
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
  if (!is_show_variables(args.statement)) {
    std::cerr << "strait: unknown statement '" << args.statement
              << "'; use `ping` or `show variables [like 'pattern'] [on cluster]`\n";
    return 2;
  }
  auto show = parse_show(args.statement);
  if (!show) {
    std::cerr << "strait: cannot read '" << args.statement
              << "': expected show variables [like 'pattern'] [on cluster]\n";
    return 2;
  }
  return show_variables(threads, options, *show);
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  auto args = parse_args(argc, argv, error);
  if (!error.empty()) {
    std::cerr << "strait: " << error << '\n';
    return 2;
  }
  if (args && args->config.help) {
    usage(std::cout);
    return 0;
  }
  if (!args || (args->statement.empty() && !args->config.print_config)) {
    usage(std::cerr);
    return 2;
  }
  return run(*args);
}
