// SPDX-License-Identifier: Apache-2.0
// strait's side of each measurement: a node that echoes, a closed-loop caller, sequential
// connect-and-call handshakes and a holder of idle connections, all through the public API
// as an embedder would write them.

#include "strait_side.hpp"

#include "process.hpp"
#include "stats.hpp"

#include <strait/client.hpp>
#include <strait/config.hpp>
#include <strait/io_threads.hpp>
#include <strait/server.hpp>
#include <strait/tls.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace strait_bench {
namespace {

namespace asio = boost::asio;

constexpr std::uint64_t max_connects_per_run = 50'000;

void set_or_throw(strait::config& cfg, std::string_view key, const std::string& value) {
  auto changed = cfg.set(key, value);
  if (!changed) throw bench_error("strait config " + std::string(key) + ": " + changed.message());
}

strait::tls_config tls_of(const role_args& args, strait::node_role role) {
  if (args.security_of() != security::tls) return {};
  auto certs = cert_files::in(args.text("certs"));
  strait::config cfg;
  set_or_throw(cfg, "enableTLS", "1");
  set_or_throw(cfg, "tlsCaPath", certs.ca);
  set_or_throw(cfg, "tlsCliCertPath", certs.client_cert);
  set_or_throw(cfg, "tlsCliKeyPath", certs.client_key);
  if (role == strait::node_role::node) {
    set_or_throw(cfg, "tlsSvrCertPath", certs.server_cert);
    set_or_throw(cfg, "tlsSvrKeyPath", certs.server_key);
  }
  cfg.freeze();
  auto tls = strait::tls_config::from_config(cfg, role);
  if (cfg.has_errors()) throw bench_error("strait TLS configuration: " + cfg.problems_text());
  return tls;
}

strait::client_options client_options_of(const role_args& args, const strait::tls_config& tls) {
  auto f = args.family_of();
  strait::client_options options;
  options.endpoints = {strait::endpoint::from_address(
      loopback_address(f), static_cast<std::uint16_t>(args.number("port")))};
  options.connect.policy =
      f == family::v4 ? strait::family_policy::ipv4_only : strait::family_policy::dual_stack;
  options.connect.tls = tls.client_context();
  return options;
}

// strait's listen options can name an IPv6 address but no IPv4 one: IPv4 means 0.0.0.0. The
// parent therefore starts an IPv4 node only inside a network namespace of its own, where
// loopback is the only interface.
strait::listen_options listen_options_of(const role_args& args) {
  strait::listen_options listen;
  listen.port = 0;
  if (args.family_of() == family::v4) {
    if (args.number("private_network") != 1) {
      throw bench_error(
          "an IPv4 strait node listens on 0.0.0.0, which is only loopback inside "
          "a private network namespace, and there is none");
    }
    listen.policy = strait::family_policy::ipv4_only;
    return listen;
  }
  listen.ipv6_address = "::1";
  listen.ipv6_address_explicit = true;
  listen.ipv6_only = true;
  return listen;
}

bench_clock::duration hard_limit(bench_clock::duration length) {
  return length + std::chrono::seconds(30);
}

// Keeps `inflight` calls outstanding; each answer sends the next call until time is up. Every
// call copies the payload into its request, as the API takes the body by value.
class strait_caller {
 public:
  strait_caller(strait::client_options options, std::size_t payload, std::size_t inflight)
      : work_(io_.get_executor()),
        client_(io_.get_executor(), std::move(options)),
        payload_(payload, 'x'),
        inflight_(inflight) {}

  run_result run(bench_clock::duration length, bool record);

 private:
  void issue();
  void on_answer(bench_clock::time_point sent, std::error_code ec, const strait::reply& r);

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  strait::client client_;
  std::string payload_;
  std::size_t inflight_;
  std::size_t outstanding_ = 0;
  bench_clock::time_point stop_at_;
  bench_clock::time_point last_answer_;
  bool record_ = false;
  run_result result_;
};

run_result strait_caller::run(bench_clock::duration length, bool record) {
  result_ = {};
  record_ = record;
  auto start = bench_clock::now();
  auto cpu_before = own_cpu_time();
  stop_at_ = start + length;
  last_answer_ = start;
  for (std::size_t i = 0; i < inflight_; ++i)
    issue();

  auto give_up = start + hard_limit(length);
  while (outstanding_ > 0 && bench_clock::now() < give_up)
    io_.run_one_until(give_up);
  result_.close(outstanding_, start, last_answer_, cpu_before);
  return result_;
}

void strait_caller::issue() {
  ++outstanding_;
  auto sent = bench_clock::now();
  client_.async_call(echo_message_type, payload_,
                     asio::bind_executor(io_, [this, sent](std::error_code ec, strait::reply r) {
                       on_answer(sent, ec, r);
                     }));
}

void strait_caller::on_answer(bench_clock::time_point sent, std::error_code ec,
                              const strait::reply& r) {
  auto now = bench_clock::now();
  --outstanding_;
  if (ec || r.body.size() != payload_.size()) {
    ++result_.errors;
    if (result_.first_error.empty()) {
      result_.first_error = ec ? ec.message() + ": " + r.detail : "a response of the wrong size";
    }
  } else {
    ++result_.calls;
    if (record_) result_.latencies.record(now - sent);
  }
  last_answer_ = now;
  if (now < stop_at_) issue();
}

// One connection's life through the client: a new client, its first call (which connects,
// handshakes and says hello), then close, with the closing handlers run before the next.
bool connect_and_call(asio::io_context& io, const strait::client_options& options,
                      const std::string& payload, std::string& problem) {
  bool done = false;
  bool ok = false;
  {
    strait::client caller(io.get_executor(), options);
    caller.async_call(echo_message_type, payload,
                      asio::bind_executor(io, [&](std::error_code ec, strait::reply r) {
                        done = true;
                        ok = !ec && r.body.size() == payload.size();
                        if (!ok) problem = ec ? ec.message() + ": " + r.detail : "wrong size";
                      }));
    auto give_up = bench_clock::now() + std::chrono::seconds(30);
    while (!done && bench_clock::now() < give_up)
      io.run_one_until(give_up);
    if (!done) problem = "no answer within 30 s";
  }
  for (int i = 0; i < 10'000 && io.poll_one() > 0; ++i) {
  }
  return ok;
}

run_result connect_repeatedly(asio::io_context& io, const strait::client_options& options,
                              const std::string& payload, bench_clock::duration length,
                              bool record) {
  run_result result;
  auto start = bench_clock::now();
  auto cpu_before = own_cpu_time();
  auto stop_at = start + length;
  auto last = start;
  while (last < stop_at && result.calls + result.errors < max_connects_per_run) {
    std::string problem;
    bool ok = connect_and_call(io, options, payload, problem);
    auto now = bench_clock::now();
    if (ok) {
      ++result.calls;
      if (record) result.latencies.record(now - last);
    } else {
      ++result.errors;
      if (result.first_error.empty()) result.first_error = problem;
    }
    last = now;
  }
  result.elapsed_ns = std::chrono::nanoseconds(last - start).count();
  result.client_cpu = own_cpu_time() - cpu_before;
  return result;
}

void answer_node_commands(const strait::server& node) {
  while (auto line = hear()) {
    if (*line == "usage") {
      auto now = own_cpu_time();
      say("usage " + std::to_string(now.user_us) + " " + std::to_string(now.system_us));
    } else if (*line == "conns") {
      say("conns " + std::to_string(node.connection_count()));
    } else {
      say("error the strait node does not know the command '" + *line + "'");
    }
  }
}

}  // namespace

int run_strait_server(const role_args& args) {
  auto tls = tls_of(args, strait::node_role::node);
  strait::server_options options;
  options.listen = listen_options_of(args);
  options.tls = tls.server_context();

  strait::io_threads threads(1);
  strait::server node(threads.executor(), options);
  node.handle(echo_message_type, [](std::string request, strait::responder answer) {
    answer.reply(std::move(request));
  });
  if (auto started = node.start(); !started) {
    throw bench_error("the strait node did not start: " + started.message());
  }
  say("port " + std::to_string(node.port()));
  answer_node_commands(node);
  node.stop();
  threads.stop();
  return 0;
}

int run_strait_load(const role_args& args) {
  auto tls = tls_of(args, strait::node_role::client);
  strait_caller caller(client_options_of(args, tls),
                       static_cast<std::size_t>(args.number("payload")),
                       static_cast<std::size_t>(args.number("inflight")));
  return run_measured(
      [&caller](bench_clock::duration length, bool record) { return caller.run(length, record); },
      args);
}

int run_strait_handshakes(const role_args& args) {
  auto tls = tls_of(args, strait::node_role::client);
  auto options = client_options_of(args, tls);
  std::string payload(static_cast<std::size_t>(args.number("payload")), 'x');
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  return run_measured(
      [&](bench_clock::duration length, bool record) {
        return connect_repeatedly(io, options, payload, length, record);
      },
      args);
}

int run_strait_idle(const role_args& args) {
  auto tls = tls_of(args, strait::node_role::client);
  auto options = client_options_of(args, tls);
  strait::io_threads threads(1);
  std::vector<std::unique_ptr<strait::client>> open;
  auto add_one = [&] {
    auto caller = std::make_unique<strait::client>(threads.executor(), options);
    auto pending = caller->async_call(echo_message_type, std::string(64, 'x'), asio::use_future);
    if (pending.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      throw bench_error("an idle connection's first call got no answer within 10 s");
    }
    auto [ec, answer] = pending.get();
    if (ec) throw bench_error("an idle connection's first call failed: " + answer.detail);
    open.push_back(std::move(caller));
  };

  add_one();
  say("warm");
  if (hear() != "go") return 1;
  auto count = args.number("count");
  for (std::int64_t i = 0; i < count; ++i)
    add_one();
  say("ready");
  while (hear()) {
  }
  open.clear();
  return 0;
}

}  // namespace strait_bench
