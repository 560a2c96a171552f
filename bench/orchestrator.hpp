// SPDX-License-Identifier: Apache-2.0
#pragma once

// The parent process: which cases run, in which order, and what each yielded.

#include "bench.hpp"
#include "stats.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace strait_bench {

struct bench_options {
  std::vector<std::size_t> payloads{64, 1024, 64 * 1024, 1024 * 1024};
  std::vector<std::size_t> inflight{1, 32};
  std::vector<security> securities{security::plain, security::tls};
  std::vector<family> families{family::v4, family::v6};
  // Each side's measured run, in each round; warm-up comes on top (a fifth of it, at most
  // 200 ms).
  std::chrono::milliseconds duration{1500};
  std::chrono::milliseconds handshake_duration{1000};
  // Rounds per case; the order of strait and floor alternates from round to round.
  int rounds = 3;
  // Idle connections held open for the memory figure.
  int idle_connections = 200;
  // Server on CPU 0, clients on CPU 1.
  bool pin = false;
  bool echo = true;
  bool handshakes = true;
  bool memory = true;
  bool quick = false;
  // Where the JSON goes; none when empty.
  std::string json_path;
  // Certificates from scripts/make-test-certs.sh; made afresh in a temporary directory when
  // empty.
  std::string certs_dir;
};

// One side of one case, summed over its rounds.
struct side_figures {
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::uint64_t resumed = 0;
  std::int64_t elapsed_ns = 0;
  cpu_time client_cpu;
  cpu_time server_cpu;
  latency_histogram latencies;
  std::vector<double> round_rates;
  // Why a round could not run (node did not start, child died); empty when all ran.
  std::string failure;
  // The first failed call, when calls failed.
  std::string first_error;

  void add(const run_result& run, const cpu_time& server);
  bool measured() const noexcept { return calls > 0 && elapsed_ns > 0; }
  double per_second() const noexcept;
  double cpu_us_per_call() const noexcept;
  double client_cpu_us_per_call() const noexcept;
  double server_cpu_us_per_call() const noexcept;
};

struct echo_case {
  family fam;
  security sec;
  std::size_t payload;
  std::size_t inflight;
  side_figures strait;
  side_figures floor;
};

// plain connect, TLS full handshake, TLS resumed handshake; each is a new connection and one
// 64 B call.
struct handshake_case {
  std::string kind;
  family fam;
  security sec;
  bool resume = false;
  // Who dialled the strait node: "strait client" or "raw OpenSSL client".
  std::string strait_client;
  side_figures strait;
  side_figures floor;
};

struct memory_case {
  security sec;
  family fam;
  int connections = 0;
  std::optional<double> strait_bytes;
  std::optional<double> floor_bytes;
  std::string strait_failure;
  std::string floor_failure;
};

struct bench_report {
  bench_options options;
  std::string cpu_model;
  int cpus = 0;
  bool pinned = false;
  std::string kernel;
  std::string openssl;
  std::string network;
  double seconds = 0;
  std::vector<echo_case> echo;
  std::vector<handshake_case> handshakes;
  std::vector<memory_case> memory;
  std::vector<std::string> notes;
};

// Runs everything `options` selects; progress goes to stderr. Children are gone when it
// returns, whether it returns or throws.
bench_report run_benchmark(const bench_options& options);

// Seconds the run is expected to take, for the progress line.
double expected_seconds(const bench_options& options);

}  // namespace strait_bench
