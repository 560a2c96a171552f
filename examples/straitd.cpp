// SPDX-License-Identifier: Apache-2.0
// straitd: a node in the style of taosd. Reads its configuration, refuses to start with every
// problem listed, listens, serves ping and `show variables`, and checks its own link to
// firstEp over the same transport, with its client certificate when TLS is on.
#include "common/cli.hpp"
#include "common/protocol.hpp"

#include <strait/client.hpp>
#include <strait/io_threads.hpp>
#include <strait/resolver.hpp>
#include <strait/server.hpp>
#include <strait/tls.hpp>

#include <boost/asio/signal_set.hpp>

#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>

namespace {

using namespace strait;
namespace ex = strait::examples;

struct node_args {
  ex::config_source_args config;
  std::string port_file;  // --port-file FILE: the bound port, for scripts using serverPort 0
};

void usage(std::ostream& out) {
  out << "usage: straitd [-c DIR|FILE] [-o key=value]... [-C] [--strict] [-v] "
         "[--port-file FILE] [--help]\n"
         "  -c  configuration directory (taos.cfg inside) or file\n"
         "  -o  set a key, overriding the file and the environment\n"
         "  -C  print the effective configuration with each value's source, and exit\n";
}

std::optional<node_args> parse_args(int argc, char** argv) {
  node_args args;
  for (int i = 1; i < argc;) {
    int used = ex::take_config_option(argc, argv, i, args.config);
    if (used == 0 && std::string_view(argv[i]) == "--port-file" && i + 1 < argc) {
      args.port_file = argv[i + 1];
      used = 2;
    }
    if (used <= 0) return std::nullopt;
    i += used;
  }
  return args;
}

std::string format_rows(const std::vector<variable_row>& rows) {
  std::string out;
  for (const auto& row : rows)
    out += row.name + '\t' + row.value + '\t' + row.scope + '\t' + row.source + '\n';
  return out;
}

void register_handlers(server& node, const config& cfg) {
  node.handle(ex::ping_message,
              [](std::string request, responder answer) { answer.reply(std::move(request)); });
  // The pattern is used as it is: an empty one matches no name, as SQL's LIKE '' does.
  node.handle(ex::show_variables_message, [&cfg](std::string pattern, responder answer) {
    answer.reply(format_rows(cfg.show_variables(pattern)));
  });
}

// The seed requires a node to use its client certificate even for its own internal links: the
// node dials its firstEp once at start-up, so that a certificate its peers would reject shows
// now rather than at the first internal call. A peer that is merely down is a warning (nodes of
// a cluster start in any order); a TLS failure stops start-up.
bool check_internal_link(io_threads& threads, config& cfg, const tls_config& tls,
                         std::uint16_t bound_port) {
  auto options = client_options::from_config(cfg, tls);
  if (!cfg.is_set("firstEp")) {
    // The default firstEp is this node: fqdn at the port actually bound (serverPort may be 0).
    if (auto self = endpoint::parse(cfg.get_string("fqdn"), bound_port)) {
      options.endpoints = {self->with_port(bound_port)};
    }
  }
  if (options.endpoints.empty()) return true;
  auto target = options.endpoints.front().to_string();

  std::promise<std::pair<std::error_code, reply>> done;
  client link(threads.executor(), std::move(options));
  link.async_call(ex::ping_message, "internal link", [&done](std::error_code ec, reply r) {
    done.set_value({ec, std::move(r)});
  });
  auto [ec, answer] = done.get_future().get();
  if (!ec) {
    std::fprintf(stderr, "straitd: internal link to firstEp %s works (%s)\n", target.c_str(),
                 tls.enabled() ? "mutual TLS with the client certificate" : "plain");
    return true;
  }
  bool fatal = ec == errc::tls_handshake_failed || ec == errc::peer_does_not_speak_tls ||
               ec == errc::peer_requires_tls;
  std::fprintf(stderr, "straitd: %s: internal link to firstEp %s failed: %s\n",
               fatal ? "error" : "warning", target.c_str(), answer.detail.c_str());
  return !fatal;
}

int run(const node_args& args) {
  ex::log_to_stderr(args.config.verbose);
  auto cfg = ex::load_config(args.config);
  auto tls = tls_config::from_config(cfg, node_role::node);
  check_family_policy(cfg);
  // The node dials firstEp (or itself, at fqdn) once it listens: an endpoint it cannot dial is
  // a start-up problem, listed with the others.
  cluster_endpoints(cfg);
  if (ex::report_problems(cfg, "straitd")) {
    std::cerr << "straitd: not started; fix the problems above\n";
    return 1;
  }
  if (args.config.print_config) {
    ex::print_config(cfg);
    return 0;
  }

  io_threads threads(static_cast<std::size_t>(cfg.get_int("rpcThreads")));
  server node(threads.executor(), server_options::from_config(cfg, tls));
  register_handlers(node, cfg);
  if (auto started = node.start(); !started) {
    std::cerr << "straitd: not started: " << started.message() << '\n';
    return 1;
  }
  cfg.freeze();
  if (!args.port_file.empty()) std::ofstream(args.port_file) << node.port() << '\n';

  if (!check_internal_link(threads, cfg, tls, node.port())) {
    std::cerr << "straitd: not started\n";
    node.stop();
    return 1;
  }
  std::printf("straitd ready on port %u (%s)\n", node.port(),
              tls.enabled() ? "mutual TLS" : "plain");
  std::fflush(stdout);

  // Runs until SIGINT or SIGTERM, then lets calls in flight finish.
  std::promise<void> stopped;
  asio::signal_set signals(threads.executor(), SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code, int signal) {
    std::fprintf(stderr, "straitd: signal %d, shutting down\n", signal);
    node.async_shutdown([&] { stopped.set_value(); });
  });
  stopped.get_future().wait();
  std::printf("straitd stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (args && args->config.help) {
    usage(std::cout);
    return 0;
  }
  if (!args) {
    usage(std::cerr);
    return 2;
  }
  return run(*args);
}
