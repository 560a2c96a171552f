// SPDX-License-Identifier: Apache-2.0
#include "report.hpp"

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

namespace strait_bench {
namespace {

// Three significant figures or so, without exponent notation.
std::string number(double value) {
  char text[32];
  if (value >= 100) {
    std::snprintf(text, sizeof text, "%.0f", value);
  } else if (value >= 10) {
    std::snprintf(text, sizeof text, "%.1f", value);
  } else {
    std::snprintf(text, sizeof text, "%.2f", value);
  }
  return text;
}

std::optional<double> ratio(double strait, double floor) {
  if (!(floor > 0) || !(strait > 0)) return std::nullopt;
  return strait / floor;
}

// "  25010 [0.63]": a value and, on strait's line, its ratio to the floor.
std::string cell(double value, std::optional<double> r, bool show) {
  char text[48];
  if (!show) {
    std::snprintf(text, sizeof text, "%9s %6s", "-", "");
  } else if (r) {
    std::snprintf(text, sizeof text, "%9s [%4s]", number(value).c_str(), number(*r).c_str());
  } else {
    std::snprintf(text, sizeof text, "%9s %6s", number(value).c_str(), "");
  }
  return text;
}

struct metrics {
  double rate, p50, p99, p999, cpu;
};

metrics metrics_of(const side_figures& s) {
  return {s.per_second(), s.latencies.percentile_us(0.5), s.latencies.percentile_us(0.99),
          s.latencies.percentile_us(0.999), s.cpu_us_per_call()};
}

std::string shortened(const std::string& text, std::size_t limit = 110) {
  return text.size() <= limit ? text : text.substr(0, limit - 3) + "...";
}

// The strait line shows ratios to the floor; the floor line shows its values alone.
void print_pair(std::FILE* out, const std::string& label, const std::string& strait_label,
                const side_figures& strait, const side_figures& floor) {
  auto s = metrics_of(strait);
  auto f = metrics_of(floor);
  bool both = strait.measured() && floor.measured();
  auto r = [&](double a, double b) { return both ? ratio(a, b) : std::nullopt; };
  for (int line = 0; line < 2; ++line) {
    const auto& figures = line == 0 ? strait : floor;
    const auto& m = line == 0 ? s : f;
    auto show = figures.measured();
    auto side_label = line == 0 ? strait_label : std::string("floor");
    std::fprintf(out, "%-22s %-7s%s%s%s%s%s", line == 0 ? label.c_str() : "", side_label.c_str(),
                 cell(m.rate, line == 0 ? r(s.rate, f.rate) : std::nullopt, show).c_str(),
                 cell(m.p50, line == 0 ? r(s.p50, f.p50) : std::nullopt, show).c_str(),
                 cell(m.p99, line == 0 ? r(s.p99, f.p99) : std::nullopt, show).c_str(),
                 cell(m.p999, line == 0 ? r(s.p999, f.p999) : std::nullopt, show).c_str(),
                 cell(m.cpu, line == 0 ? r(s.cpu, f.cpu) : std::nullopt, show).c_str());
    if (figures.resumed > 0)
      std::fprintf(out, "  resumed %llu", static_cast<unsigned long long>(figures.resumed));
    if (figures.errors > 0) {
      std::fprintf(out, "  %llu failed: %s", static_cast<unsigned long long>(figures.errors),
                   shortened(figures.first_error, 80).c_str());
    }
    if (!show && !figures.failure.empty()) {
      std::fprintf(out, "  not measured: %s", shortened(figures.failure).c_str());
    }
    std::fputc('\n', out);
  }
}

void print_header(std::FILE* out, const char* first, const char* rate_name, const char* cpu_name) {
  std::fprintf(out, "%-22s %-7s%16s%16s%16s%16s%16s\n", first, "side", rate_name, "p50 us",
               "p99 us", "p999 us", cpu_name);
}

void print_echo(std::FILE* out, const bench_report& report) {
  if (report.echo.empty()) return;
  std::fprintf(out, "\nEcho calls (request and response of the payload size; one connection)\n");
  print_header(out, "case", "calls/s", "cpu us/call");
  for (const auto& c : report.echo) {
    auto label = std::string(to_string(c.fam)) + " " + std::string(to_string(c.sec)) + " " +
                 size_label(c.payload) + " x" + std::to_string(c.inflight);
    print_pair(out, label, "strait", c.strait, c.floor);
  }
}

void print_handshakes(std::FILE* out, const bench_report& report) {
  if (report.handshakes.empty()) return;
  std::fprintf(out,
               "\nHandshakes (sequential: connect, TLS handshake, hello, one 64 B call, close)\n");
  print_header(out, "kind", "conn/s", "cpu us/conn");
  for (const auto& c : report.handshakes) {
    auto label = c.kind + " " + std::string(to_string(c.fam));
    print_pair(out, label, c.resume ? "node*" : "strait", c.strait, c.floor);
  }
  std::fprintf(out,
               "node*: the strait node dialled by a raw OpenSSL client that resumes sessions and "
               "confirms each resumption (SSL_session_reused)\n");
}

void print_memory(std::FILE* out, const bench_report& report) {
  if (report.memory.empty()) return;
  std::fprintf(out, "\nIdle connections (server VmRSS growth divided by the connections)\n");
  std::fprintf(out, "%-22s %8s %14s %14s %14s %8s\n", "security", "conns", "strait B/conn",
               "floor B/conn", "difference", "ratio");
  for (const auto& c : report.memory) {
    auto label = std::string(to_string(c.sec)) + " " + std::string(to_string(c.fam));
    auto shown = [](const std::optional<double>& v) { return v ? number(*v) : std::string("-"); };
    std::string difference = "-", r = "-";
    if (c.strait_bytes && c.floor_bytes) {
      difference = number(*c.strait_bytes - *c.floor_bytes);
      if (auto q = ratio(*c.strait_bytes, *c.floor_bytes); q && *c.floor_bytes >= 256) {
        r = number(*q);
      }
    }
    std::fprintf(out, "%-22s %8d %14s %14s %14s %8s", label.c_str(), c.connections,
                 shown(c.strait_bytes).c_str(), shown(c.floor_bytes).c_str(), difference.c_str(),
                 r.c_str());
    for (const auto* failure : {&c.strait_failure, &c.floor_failure}) {
      if (!failure->empty()) std::fprintf(out, "  %s", shortened(*failure).c_str());
    }
    std::fputc('\n', out);
  }
}

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", ch);
      out += escaped;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[40];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

std::string json_ratio(std::optional<double> value) {
  return value ? json_number(*value) : "null";
}

std::string json_side(const side_figures& s) {
  std::ostringstream out;
  auto m = metrics_of(s);
  out << "{\"measured\": " << (s.measured() ? "true" : "false") << ", \"calls\": " << s.calls
      << ", \"errors\": " << s.errors << ", \"resumed\": " << s.resumed
      << ", \"seconds\": " << json_number(static_cast<double>(s.elapsed_ns) / 1e9)
      << ", \"per_second\": " << json_number(m.rate) << ", \"p50_us\": " << json_number(m.p50)
      << ", \"p99_us\": " << json_number(m.p99) << ", \"p999_us\": " << json_number(m.p999)
      << ", \"cpu_us_per_call\": " << json_number(m.cpu)
      << ", \"client_cpu_us_per_call\": " << json_number(s.client_cpu_us_per_call())
      << ", \"server_cpu_us_per_call\": " << json_number(s.server_cpu_us_per_call())
      << ", \"round_rates\": [";
  for (std::size_t i = 0; i < s.round_rates.size(); ++i)
    out << (i ? ", " : "") << json_number(s.round_rates[i]);
  out << "], \"failure\": " << json_string(s.failure)
      << ", \"first_error\": " << json_string(s.first_error) << "}";
  return out.str();
}

std::string json_ratios(const side_figures& strait, const side_figures& floor) {
  auto s = metrics_of(strait);
  auto f = metrics_of(floor);
  bool both = strait.measured() && floor.measured();
  auto r = [&](double a, double b) { return json_ratio(both ? ratio(a, b) : std::nullopt); };
  return "{\"per_second\": " + r(s.rate, f.rate) + ", \"p50\": " + r(s.p50, f.p50) +
         ", \"p99\": " + r(s.p99, f.p99) + ", \"p999\": " + r(s.p999, f.p999) +
         ", \"cpu\": " + r(s.cpu, f.cpu) + "}";
}

void json_settings(std::ostream& out, const bench_report& report) {
  const auto& o = report.options;
  out << "  \"machine\": {\"cpus\": " << report.cpus
      << ", \"cpu_model\": " << json_string(report.cpu_model)
      << ", \"kernel\": " << json_string(report.kernel)
      << ", \"openssl\": " << json_string(report.openssl)
      << ", \"pinned\": " << (report.pinned ? "true" : "false")
      << ", \"network\": " << json_string(report.network) << "},\n";
  out << "  \"settings\": {\"quick\": " << (o.quick ? "true" : "false")
      << ", \"duration_ms\": " << o.duration.count()
      << ", \"handshake_duration_ms\": " << o.handshake_duration.count()
      << ", \"rounds\": " << o.rounds << ", \"idle_connections\": " << o.idle_connections << "},\n";
  out << "  \"seconds\": " << json_number(report.seconds) << ",\n";
}

void json_echo(std::ostream& out, const bench_report& report) {
  out << "  \"echo\": [";
  for (std::size_t i = 0; i < report.echo.size(); ++i) {
    const auto& c = report.echo[i];
    out << (i ? ",\n" : "\n") << "    {\"family\": \"" << to_string(c.fam) << "\", \"security\": \""
        << to_string(c.sec) << "\", \"payload\": " << c.payload << ", \"inflight\": " << c.inflight
        << ",\n     \"strait\": " << json_side(c.strait)
        << ",\n     \"floor\": " << json_side(c.floor)
        << ",\n     \"ratio\": " << json_ratios(c.strait, c.floor) << "}";
  }
  out << "\n  ],\n";
}

void json_handshakes(std::ostream& out, const bench_report& report) {
  out << "  \"handshakes\": [";
  for (std::size_t i = 0; i < report.handshakes.size(); ++i) {
    const auto& c = report.handshakes[i];
    out << (i ? ",\n" : "\n") << "    {\"kind\": " << json_string(c.kind) << ", \"family\": \""
        << to_string(c.fam) << "\", \"security\": \"" << to_string(c.sec)
        << "\", \"resume\": " << (c.resume ? "true" : "false")
        << ", \"strait_client\": " << json_string(c.strait_client)
        << ",\n     \"strait\": " << json_side(c.strait)
        << ",\n     \"floor\": " << json_side(c.floor)
        << ",\n     \"ratio\": " << json_ratios(c.strait, c.floor) << "}";
  }
  out << "\n  ],\n";
}

void json_memory(std::ostream& out, const bench_report& report) {
  out << "  \"idle_memory\": [";
  for (std::size_t i = 0; i < report.memory.size(); ++i) {
    const auto& c = report.memory[i];
    auto value = [](const std::optional<double>& v) { return v ? json_number(*v) : "null"; };
    out << (i ? ",\n" : "\n") << "    {\"security\": \"" << to_string(c.sec) << "\", \"family\": \""
        << to_string(c.fam) << "\", \"connections\": " << c.connections
        << ", \"strait_bytes_per_connection\": " << value(c.strait_bytes)
        << ", \"floor_bytes_per_connection\": " << value(c.floor_bytes)
        << ", \"strait_failure\": " << json_string(c.strait_failure)
        << ", \"floor_failure\": " << json_string(c.floor_failure) << "}";
  }
  out << "\n  ],\n";
}

}  // namespace

void print_report(std::FILE* out, const bench_report& report) {
  std::fprintf(out, "strait-bench: %d CPUs (%s), %s, %s; %s; %s\n", report.cpus,
               report.cpu_model.c_str(), report.kernel.c_str(), report.openssl.c_str(),
               report.pinned ? "node on CPU 0, clients on CPU 1" : "not pinned",
               report.network.c_str());
  std::fprintf(out,
               "%d round(s); per round each side runs %.1f s per echo case and %.1f s per "
               "handshake case, strait and floor alternating.\n[r] = strait / floor: below 1 "
               "for calls/s means strait is slower; above 1 for latency and CPU means strait\n"
               "costs more. CPU is client + node CPU time (getrusage) per call.\n",
               report.options.rounds, static_cast<double>(report.options.duration.count()) / 1000.0,
               static_cast<double>(report.options.handshake_duration.count()) / 1000.0);
  print_echo(out, report);
  print_handshakes(out, report);
  print_memory(out, report);
  for (const auto& note : report.notes)
    std::fprintf(out, "note: %s\n", note.c_str());
  std::fprintf(out, "took %.0f s\n", report.seconds);
}

void write_json(const std::string& path, const bench_report& report) {
  std::ostringstream out;
  out << "{\n";
  json_settings(out, report);
  json_echo(out, report);
  json_handshakes(out, report);
  json_memory(out, report);
  out << "  \"notes\": [";
  for (std::size_t i = 0; i < report.notes.size(); ++i)
    out << (i ? ", " : "") << json_string(report.notes[i]);
  out << "]\n}\n";

  std::ofstream file(path);
  file << out.str();
  file.flush();
  if (!file) throw bench_error("cannot write the JSON report to '" + path + "'");
}

}  // namespace strait_bench
