// SPDX-License-Identifier: Apache-2.0
#pragma once

// What one measured run yields, and how a child process hands it to the parent as one line.

#include "bench.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strait_bench {

// Latencies in log-linear buckets: exact below 256 ns, then 128 buckets per power of two, so
// every percentile is within 0.8% of the true value whatever the spread.
class latency_histogram {
 public:
  void record(std::chrono::nanoseconds latency);
  void merge(const latency_histogram& other);
  std::uint64_t count() const noexcept { return total_; }
  // The latency that `fraction` (0.5, 0.99, 0.999) of the samples do not exceed, in
  // microseconds; 0 when there are no samples.
  double percentile_us(double fraction) const;

  // "index:count,index:count" of the non-empty buckets, for the result line.
  std::string to_text() const;
  static std::optional<latency_histogram> from_text(std::string_view text);

 private:
  static constexpr int sub_bucket_bits = 7;
  static constexpr std::size_t sub_buckets = std::size_t{1} << sub_bucket_bits;
  static std::size_t index_of(std::uint64_t nanoseconds);
  static std::uint64_t nanoseconds_at(std::size_t index);

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
};

// User and system CPU time of a process, from getrusage.
struct cpu_time {
  std::int64_t user_us = 0;
  std::int64_t system_us = 0;

  std::int64_t total_us() const noexcept { return user_us + system_us; }
  cpu_time operator-(const cpu_time& earlier) const noexcept {
    return {user_us - earlier.user_us, system_us - earlier.system_us};
  }
  cpu_time& operator+=(const cpu_time& more) noexcept {
    user_us += more.user_us;
    system_us += more.system_us;
    return *this;
  }
};

// This process, every thread included.
cpu_time own_cpu_time();

// One measured run of a client: calls (or connections) completed, the time they took, the
// client's own CPU time over that window and every latency.
struct run_result {
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  // Handshake runs: how many TLS sessions were resumed.
  std::uint64_t resumed = 0;
  std::int64_t elapsed_ns = 0;
  cpu_time client_cpu;
  latency_histogram latencies;
  // The first error seen, for the report.
  std::string first_error;

  // Ends a run of echo calls: calls still unanswered count as errors, the elapsed time runs
  // from `start` to the last answer, and the client's CPU time since `cpu_before` is kept.
  void close(std::size_t unanswered, bench_clock::time_point start,
             bench_clock::time_point last_answer, const cpu_time& cpu_before);

  // "result calls=... hist=..." on one line; the error text comes last and may hold spaces.
  std::string to_line() const;
  static std::optional<run_result> from_line(std::string_view line);
};

}  // namespace strait_bench
