// SPDX-License-Identifier: Apache-2.0
#include "stats.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

namespace strait_bench {
namespace {

// Latencies past 2^42 ns (about 73 minutes) land in the last bucket; no run is that long.
constexpr int largest_power = 42;

bool parse_number(std::string_view text, std::uint64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool parse_signed(std::string_view text, std::int64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// Splits "a b c" at single spaces.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> words;
  while (!line.empty()) {
    auto space = line.find(' ');
    words.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return words;
}

std::int64_t microseconds_of(const timeval& tv) {
  return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000 + tv.tv_usec;
}

}  // namespace

std::size_t latency_histogram::index_of(std::uint64_t ns) {
  if (ns < 2 * sub_buckets) return static_cast<std::size_t>(ns);
  int top_bit = std::bit_width(ns) - 1;
  if (top_bit > largest_power) {
    top_bit = largest_power;
    ns = (std::uint64_t{1} << (largest_power + 1)) - 1;
  }
  auto shift = top_bit - sub_bucket_bits;
  auto leading = static_cast<std::size_t>(ns >> shift);  // in [128, 256)
  return sub_buckets * static_cast<std::size_t>(shift + 1) + (leading - sub_buckets);
}

// The middle of the bucket's range.
std::uint64_t latency_histogram::nanoseconds_at(std::size_t index) {
  if (index < 2 * sub_buckets) return index;
  auto shift = static_cast<int>(index / sub_buckets) - 1;
  auto leading = static_cast<std::uint64_t>(sub_buckets + index % sub_buckets);
  return (leading << shift) + (std::uint64_t{1} << shift) / 2;
}

void latency_histogram::record(std::chrono::nanoseconds latency) {
  auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count()));
  auto index = index_of(ns);
  if (counts_.size() <= index) counts_.resize(index + 1);
  ++counts_[index];
  ++total_;
}

void latency_histogram::merge(const latency_histogram& other) {
  if (counts_.size() < other.counts_.size()) counts_.resize(other.counts_.size());
  for (std::size_t i = 0; i < other.counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  total_ += other.total_;
}

double latency_histogram::percentile_us(double fraction) const {
  if (total_ == 0) return 0;
  auto wanted = static_cast<std::uint64_t>(std::ceil(fraction * static_cast<double>(total_)));
  wanted = std::clamp<std::uint64_t>(wanted, 1, total_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= wanted) return static_cast<double>(nanoseconds_at(i)) / 1000.0;
  }
  return static_cast<double>(nanoseconds_at(counts_.size() - 1)) / 1000.0;
}

std::string latency_histogram::to_text() const {
  std::string text;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    if (!text.empty()) text += ',';
    text += std::to_string(i) + ':' + std::to_string(counts_[i]);
  }
  return text.empty() ? "-" : text;
}

std::optional<latency_histogram> latency_histogram::from_text(std::string_view text) {
  latency_histogram h;
  if (text == "-") return h;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto pair = text.substr(0, comma);
    auto colon = pair.find(':');
    std::uint64_t index = 0, count = 0;
    if (colon == std::string_view::npos || !parse_number(pair.substr(0, colon), index) ||
        !parse_number(pair.substr(colon + 1), count) || index > 64 * sub_buckets) {
      return std::nullopt;
    }
    if (h.counts_.size() <= index) h.counts_.resize(index + 1);
    h.counts_[index] += count;
    h.total_ += count;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return h;
}

void run_result::close(std::size_t unanswered, bench_clock::time_point start,
                       bench_clock::time_point last_answer, const cpu_time& cpu_before) {
  if (unanswered > 0) {
    errors += unanswered;
    if (first_error.empty()) first_error = "calls left unanswered at the end";
  }
  elapsed_ns = std::chrono::nanoseconds(last_answer - start).count();
  client_cpu = own_cpu_time() - cpu_before;
}

cpu_time own_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return {microseconds_of(usage.ru_utime), microseconds_of(usage.ru_stime)};
}

std::string run_result::to_line() const {
  auto line = "result calls=" + std::to_string(calls) + " errors=" + std::to_string(errors) +
              " resumed=" + std::to_string(resumed) + " elapsed_ns=" + std::to_string(elapsed_ns) +
              " user_us=" + std::to_string(client_cpu.user_us) +
              " sys_us=" + std::to_string(client_cpu.system_us) + " hist=" + latencies.to_text();
  if (!first_error.empty()) {
    auto flat = first_error;
    std::replace(flat.begin(), flat.end(), '\n', ' ');
    line += " first_error=" + flat;
  }
  return line;
}

std::optional<run_result> run_result::from_line(std::string_view line) {
  constexpr std::string_view prefix = "result ";
  if (!line.starts_with(prefix)) return std::nullopt;
  line.remove_prefix(prefix.size());
  run_result r;
  if (auto at = line.find(" first_error="); at != std::string_view::npos) {
    r.first_error = std::string(line.substr(at + 13));
    line = line.substr(0, at);
  }

  int fields = 0;
  for (auto word : words_of(line)) {
    auto eq = word.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = word.substr(0, eq);
    auto value = word.substr(eq + 1);
    bool ok = true;
    if (key == "calls") ok = parse_number(value, r.calls);
    if (key == "errors") ok = parse_number(value, r.errors);
    if (key == "resumed") ok = parse_number(value, r.resumed);
    if (key == "elapsed_ns") ok = parse_signed(value, r.elapsed_ns);
    if (key == "user_us") ok = parse_signed(value, r.client_cpu.user_us);
    if (key == "sys_us") ok = parse_signed(value, r.client_cpu.system_us);
    if (key == "hist") {
      auto h = latency_histogram::from_text(value);
      ok = h.has_value();
      if (ok) r.latencies = std::move(*h);
    }
    if (!ok) return std::nullopt;
    ++fields;
  }
  if (fields < 7) return std::nullopt;
  return r;
}

}  // namespace strait_bench
