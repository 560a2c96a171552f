// SPDX-License-Identifier: Apache-2.0
#include "orchestrator.hpp"

#include "process.hpp"

#include <openssl/crypto.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef STRAIT_SOURCE_DIR
#error "STRAIT_SOURCE_DIR must name the source tree (for scripts/make-test-certs.sh)"
#endif

namespace strait_bench {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int server_cpu = 0;
constexpr int client_cpu = 1;
// Process start, connection and warm-up on top of each measured run, for the estimate.
constexpr double overhead_per_run_s = 0.12;

bench_clock::time_point in(bench_clock::duration d) {
  return bench_clock::now() + d;
}

milliseconds warmup_of(milliseconds run) {
  return std::min(milliseconds(200), run / 5);
}

std::string case_name(family f, security s, std::size_t payload, std::size_t inflight) {
  return std::string(to_string(f)) + " " + std::string(to_string(s)) + " " + size_label(payload) +
         " x" + std::to_string(inflight);
}

// A node in its own process: strait's server or the floor's.
class node_process {
 public:
  node_process(child_process child, std::uint16_t port) : child_(std::move(child)), port_(port) {}

  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return child_.pid(); }

  cpu_time usage() {
    child_.send_line("usage");
    std::istringstream fields(child_.expect("usage ", in(seconds(10))).substr(6));
    cpu_time t;
    fields >> t.user_us >> t.system_us;
    return t;
  }

  std::size_t connections() {
    child_.send_line("conns");
    return std::stoul(child_.expect("conns ", in(seconds(10))).substr(6));
  }

  void finish() { child_.finish(in(seconds(5))); }

 private:
  child_process child_;
  std::uint16_t port_;
};

class orchestrator {
 public:
  // A child outliving three times the whole expected run is stuck, whatever the reason.
  explicit orchestrator(const bench_options& options)
      : options_(options),
        child_lifetime_(static_cast<std::int64_t>(expected_seconds(options) * 3000) + 120'000) {}
  bench_report run();

 private:
  void prepare();
  void make_certificates();
  role_args base_args(side s, family f, security sec) const;
  node_process start_node(side s, family f, security sec);
  run_result measure(node_process& node, const std::string& role, const role_args& args,
                     const std::string& name, cpu_time& server_cpu);
  void run_group(family f, security sec);
  void run_echo_case(echo_case& c, std::optional<node_process>& strait_node,
                     std::optional<node_process>& floor_node);
  void run_handshake_case(handshake_case& c, std::optional<node_process>& strait_node,
                          std::optional<node_process>& floor_node);
  void run_side(side s, std::optional<node_process>& node, const std::string& role,
                const role_args& args, const std::string& name, side_figures& figures);
  void run_memory(family f, security sec);
  std::optional<double> idle_bytes_per_connection(side s, family f, security sec,
                                                  std::string& failure);
  void wait_for_connections(node_process& node, std::size_t count);
  std::string strait_unavailable(family f) const;
  int cpu_for(int cpu) const { return report_.pinned ? cpu : -1; }

  const bench_options& options_;
  milliseconds child_lifetime_;
  bench_report report_;
  bool private_network_ = false;
  std::string certs_dir_;
  std::filesystem::path scratch_;
  int runs_done_ = 0;
};

bench_report orchestrator::run() {
  auto started = bench_clock::now();
  report_.options = options_;
  try {
    prepare();
    for (auto f : options_.families) {
      for (auto sec : options_.securities)
        run_group(f, sec);
    }
    if (options_.memory) {
      for (auto sec : options_.securities)
        run_memory(options_.families.front(), sec);
    }
  } catch (...) {
    if (!scratch_.empty()) std::filesystem::remove_all(scratch_);
    throw;
  }
  if (!scratch_.empty()) std::filesystem::remove_all(scratch_);
  report_.seconds = std::chrono::duration<double>(bench_clock::now() - started).count();
  return report_;
}

std::string cpu_model() {
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  for (int lines = 0; lines < 100 && std::getline(info, line); ++lines) {
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

void orchestrator::prepare() {
  report_.cpus = usable_cpus();
  report_.cpu_model = cpu_model();
  utsname name{};
  if (uname(&name) == 0) report_.kernel = std::string(name.sysname) + " " + name.release;
  report_.openssl = OpenSSL_version(OPENSSL_VERSION);

  if (options_.pin && !can_pin_to_first_two_cpus()) {
    report_.notes.push_back("--pin ignored: CPUs 0 and 1 are not both available");
  }
  report_.pinned = options_.pin && can_pin_to_first_two_cpus();

  auto problem = enter_private_network();
  private_network_ = problem.empty();
  report_.network = private_network_ ? "private network namespace (loopback only)"
                                     : "host network namespace (no private one: " + problem + ")";
  if (!private_network_) report_.notes.push_back(strait_unavailable(family::v4));

  bool tls = std::find(options_.securities.begin(), options_.securities.end(), security::tls) !=
             options_.securities.end();
  if (tls) make_certificates();
}

void orchestrator::make_certificates() {
  if (!options_.certs_dir.empty()) {
    certs_dir_ = options_.certs_dir;
    return;
  }
  char pattern[] = "/tmp/strait-bench.XXXXXX";
  if (mkdtemp(pattern) == nullptr) throw bench_error("cannot make a temporary directory");
  scratch_ = pattern;
  certs_dir_ = (scratch_ / "certs").string();
  auto script = std::string(STRAIT_SOURCE_DIR) + "/scripts/make-test-certs.sh";
  if (run_command({"bash", script, certs_dir_}, seconds(60)) != 0) {
    throw bench_error(script + " " + certs_dir_ + " failed; see its output above");
  }
}

std::string orchestrator::strait_unavailable(family f) const {
  if (f != family::v4 || private_network_) return "";
  return "strait IPv4 cases skipped: strait's listen options cannot name an IPv4 address, so its "
         "IPv4 node would listen on 0.0.0.0; that is only loopback inside a private network "
         "namespace, which could not be made";
}

role_args orchestrator::base_args(side s, family f, security sec) const {
  role_args args;
  args.set("side", std::string(to_string(s)))
      .set("family", std::string(to_string(f)))
      .set("security", std::string(to_string(sec)))
      .set("private_network", private_network_ ? 1 : 0)
      .set("lifetime_ms", child_lifetime_.count());
  if (sec == security::tls) args.set("certs", certs_dir_);
  return args;
}

std::vector<std::string> role_words(const std::string& role, const role_args& args) {
  std::vector<std::string> words{"--role", role};
  auto rest = args.to_words();
  words.insert(words.end(), rest.begin(), rest.end());
  return words;
}

node_process orchestrator::start_node(side s, family f, security sec) {
  auto name = "the " + std::string(to_string(s)) + " node (" + std::string(to_string(f)) + " " +
              std::string(to_string(sec)) + ")";
  auto child =
      child_process::spawn(name, role_words("node", base_args(s, f, sec)), cpu_for(server_cpu));
  auto line = child.expect("port ", in(seconds(30)));
  auto port = static_cast<std::uint16_t>(std::stoul(line.substr(5)));
  return node_process(std::move(child), port);
}

// One measured client run against `node`: the node's CPU time is read just before "go" and
// just after the result, so that it covers the same window as the client's.
run_result orchestrator::measure(node_process& node, const std::string& role, const role_args& args,
                                 const std::string& name, cpu_time& server_cpu_used) {
  auto client = child_process::spawn(name, role_words(role, args), cpu_for(client_cpu));
  client.expect("ready", in(seconds(60)));
  auto before = node.usage();
  client.send_line("go");
  auto line = client.expect("result ", in(args.millis("duration_ms") + seconds(90)));
  auto after = node.usage();
  client.finish(in(seconds(5)));
  auto result = run_result::from_line(line);
  if (!result) throw bench_error(name + " printed a malformed result: " + line);
  server_cpu_used = after - before;
  ++runs_done_;
  return *result;
}

void orchestrator::run_side(side s, std::optional<node_process>& node, const std::string& role,
                            const role_args& args, const std::string& name, side_figures& figures) {
  if (!node) return;
  try {
    cpu_time server_used;
    auto result = measure(*node, role, args, name, server_used);
    figures.add(result, server_used);
  } catch (const bench_error& e) {
    if (interrupted_by() != 0) throw;
    if (figures.failure.empty()) figures.failure = e.what();
    std::fprintf(stderr, "  %s: %s\n", std::string(to_string(s)).c_str(), e.what());
  }
}

void orchestrator::run_group(family f, security sec) {
  std::optional<node_process> strait_node, floor_node;
  std::string strait_failure = strait_unavailable(f), floor_failure;
  try {
    if (strait_failure.empty()) strait_node.emplace(start_node(side::strait, f, sec));
  } catch (const bench_error& e) {
    if (interrupted_by() != 0) throw;
    strait_failure = e.what();
  }
  try {
    floor_node.emplace(start_node(side::floor, f, sec));
  } catch (const bench_error& e) {
    if (interrupted_by() != 0) throw;
    floor_failure = e.what();
  }

  for (auto payload : options_.echo ? options_.payloads : std::vector<std::size_t>{}) {
    for (auto inflight : options_.inflight) {
      echo_case c{f, sec, payload, inflight, {}, {}};
      c.strait.failure = strait_failure;
      c.floor.failure = floor_failure;
      run_echo_case(c, strait_node, floor_node);
      report_.echo.push_back(std::move(c));
    }
  }
  if (options_.handshakes) {
    std::vector<bool> resumes =
        sec == security::tls ? std::vector{false, true} : std::vector{false};
    for (bool resume : resumes) {
      handshake_case c;
      c.kind = sec == security::plain ? "plain connect" : resume ? "TLS resumed" : "TLS full";
      c.fam = f;
      c.sec = sec;
      c.resume = resume;
      c.strait_client = resume ? "raw OpenSSL client" : "strait client";
      c.strait.failure = strait_failure;
      c.floor.failure = floor_failure;
      run_handshake_case(c, strait_node, floor_node);
      report_.handshakes.push_back(std::move(c));
    }
  }
  if (strait_node) strait_node->finish();
  if (floor_node) floor_node->finish();
}

void print_progress(const std::string& name, const side_figures& strait,
                    const side_figures& floor) {
  auto rate = [](const side_figures& s) {
    return s.measured() ? std::to_string(static_cast<long long>(s.per_second())) : "-";
  };
  std::string ratio = "-";
  if (strait.measured() && floor.measured()) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", strait.per_second() / floor.per_second());
    ratio = text;
  }
  std::fprintf(stderr, "%-28s strait %10s/s  floor %10s/s  ratio %s\n", name.c_str(),
               rate(strait).c_str(), rate(floor).c_str(), ratio.c_str());
}

// Rounds alternate which side goes first, so that slow drifts of the machine hit both alike.
void orchestrator::run_echo_case(echo_case& c, std::optional<node_process>& strait_node,
                                 std::optional<node_process>& floor_node) {
  auto name = case_name(c.fam, c.sec, c.payload, c.inflight);
  for (int round = 0; round < options_.rounds; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      bool floor_turn = (round + turn) % 2 == 0;
      auto s = floor_turn ? side::floor : side::strait;
      auto args = base_args(s, c.fam, c.sec);
      auto& node = floor_turn ? floor_node : strait_node;
      if (!node) continue;
      args.set("port", node->port())
          .set("payload", static_cast<std::int64_t>(c.payload))
          .set("inflight", static_cast<std::int64_t>(c.inflight))
          .set("duration_ms", options_.duration.count())
          .set("warmup_ms", warmup_of(options_.duration).count());
      run_side(s, node, "load", args, "the " + std::string(to_string(s)) + " client (" + name + ")",
               floor_turn ? c.floor : c.strait);
    }
  }
  print_progress(name, c.strait, c.floor);
}

void orchestrator::run_handshake_case(handshake_case& c, std::optional<node_process>& strait_node,
                                      std::optional<node_process>& floor_node) {
  auto name = c.kind + " " + std::string(to_string(c.fam));
  for (int round = 0; round < options_.rounds; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      bool floor_turn = (round + turn) % 2 == 0;
      auto s = floor_turn ? side::floor : side::strait;
      auto& node = floor_turn ? floor_node : strait_node;
      if (!node) continue;
      auto args = base_args(s, c.fam, c.sec);
      args.set("port", node->port())
          .set("payload", 64)
          .set("resume", c.resume ? 1 : 0)
          .set("duration_ms", options_.handshake_duration.count())
          .set("warmup_ms", warmup_of(options_.handshake_duration).count());
      auto role = !floor_turn && c.resume ? "raw-strait-handshakes" : "handshakes";
      run_side(s, node, role, args,
               "the " + std::string(to_string(s)) + " handshake client (" + name + ")",
               floor_turn ? c.floor : c.strait);
    }
  }
  print_progress(name, c.strait, c.floor);
}

void orchestrator::run_memory(family f, security sec) {
  memory_case c{sec, f, options_.idle_connections, {}, {}, {}, {}};
  c.strait_failure = strait_unavailable(f);
  c.floor_bytes = idle_bytes_per_connection(side::floor, f, sec, c.floor_failure);
  if (c.strait_failure.empty()) {
    c.strait_bytes = idle_bytes_per_connection(side::strait, f, sec, c.strait_failure);
  }
  std::fprintf(stderr, "idle %-23s strait %10.0f B/conn floor %10.0f B/conn\n",
               std::string(to_string(sec)).c_str(), c.strait_bytes.value_or(0),
               c.floor_bytes.value_or(0));
  report_.memory.push_back(std::move(c));
}

void orchestrator::wait_for_connections(node_process& node, std::size_t count) {
  auto deadline = in(seconds(20));
  while (node.connections() < count) {
    if (bench_clock::now() > deadline) {
      throw bench_error("the node did not report " + std::to_string(count) +
                        " connections within 20 s");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// Server RSS with one warm connection, then with `idle_connections` more; the growth divided
// by their number.
std::optional<double> orchestrator::idle_bytes_per_connection(side s, family f, security sec,
                                                              std::string& failure) {
  try {
    auto node = start_node(s, f, sec);
    auto args = base_args(s, f, sec);
    args.set("port", node.port()).set("count", options_.idle_connections);
    auto client = child_process::spawn("the " + std::string(to_string(s)) + " idle client",
                                       role_words("idle", args), cpu_for(client_cpu));
    client.expect("warm", in(seconds(30)));
    wait_for_connections(node, 1);
    std::this_thread::sleep_for(milliseconds(200));
    auto before = resident_bytes(node.pid());

    client.send_line("go");
    client.expect("ready", in(seconds(120)));
    wait_for_connections(node, static_cast<std::size_t>(options_.idle_connections) + 1);
    std::this_thread::sleep_for(milliseconds(300));
    auto after = resident_bytes(node.pid());
    client.finish(in(seconds(5)));
    node.finish();
    if (!before || !after) throw bench_error("cannot read VmRSS of the node");
    return static_cast<double>(*after - *before) / options_.idle_connections;
  } catch (const bench_error& e) {
    if (interrupted_by() != 0) throw;
    failure = e.what();
    std::fprintf(stderr, "  idle %s: %s\n", std::string(to_string(s)).c_str(), e.what());
    return std::nullopt;
  }
}

}  // namespace

void side_figures::add(const run_result& run, const cpu_time& server) {
  calls += run.calls;
  errors += run.errors;
  resumed += run.resumed;
  elapsed_ns += run.elapsed_ns;
  client_cpu += run.client_cpu;
  server_cpu += server;
  latencies.merge(run.latencies);
  if (run.elapsed_ns > 0) {
    round_rates.push_back(static_cast<double>(run.calls) * 1e9 /
                          static_cast<double>(run.elapsed_ns));
  }
  if (first_error.empty()) first_error = run.first_error;
}

double side_figures::per_second() const noexcept {
  return elapsed_ns > 0 ? static_cast<double>(calls) * 1e9 / static_cast<double>(elapsed_ns) : 0;
}

double side_figures::cpu_us_per_call() const noexcept {
  return client_cpu_us_per_call() + server_cpu_us_per_call();
}

double side_figures::client_cpu_us_per_call() const noexcept {
  return calls > 0 ? static_cast<double>(client_cpu.total_us()) / static_cast<double>(calls) : 0;
}

double side_figures::server_cpu_us_per_call() const noexcept {
  return calls > 0 ? static_cast<double>(server_cpu.total_us()) / static_cast<double>(calls) : 0;
}

bench_report run_benchmark(const bench_options& options) {
  return orchestrator(options).run();
}

double expected_seconds(const bench_options& options) {
  double per_round = 2 * (options.duration.count() / 1000.0 + overhead_per_run_s);
  double echo = options.echo
                    ? static_cast<double>(options.payloads.size() * options.inflight.size() *
                                          options.securities.size() * options.families.size()) *
                          options.rounds * per_round
                    : 0;
  double kinds = 0;
  for (auto sec : options.securities)
    kinds += sec == security::tls ? 2 : 1;
  double handshakes = options.handshakes
                          ? kinds * static_cast<double>(options.families.size()) * options.rounds *
                                2 *
                                (options.handshake_duration.count() / 1000.0 + overhead_per_run_s)
                          : 0;
  double memory = options.memory ? 3.0 * static_cast<double>(options.securities.size()) : 0;
  return echo + handshakes + memory + 2;
}

}  // namespace strait_bench
