// SPDX-License-Identifier: Apache-2.0
// Arbitrary bytes given as a taos.cfg file must yield values and problems, never a crash, a hang
// or unbounded memory. Beyond that, every input must keep these promises: the problems listed
// are bounded; every stored value is in canonical form; writing the effective values back in
// quoted form and loading them again gives the same values without an error. A violation
// aborts, so libFuzzer reports it with the input.
#include <strait/config.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void violated(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "config_fuzz: %.*s\n  %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

std::string quote_for_file(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void check_problems(const strait::config& cfg) {
  if (cfg.problems().size() > strait::config::max_problems_per_source + 1)
    violated("more problems listed than the cap", cfg.problems().back().to_string());
  for (const auto& problem : cfg.problems()) {
    if (problem.message.empty() || problem.origin != "fuzz.cfg")
      violated("problem without a message or with another origin", problem.to_string());
  }
}

// Returns the effective values that came from the file, written back as a file.
std::string check_values(const strait::config& cfg) {
  std::string rewritten;
  for (const auto& spec : cfg.registry().all()) {
    const std::string& stored = cfg.get_string(spec.name);
    const auto again = strait::check_value(spec, stored);
    if (!again || again.value() != stored) violated("stored value is not canonical", spec.name);
    // Doubling every quote and backslash could push a long value past the line limit.
    if (cfg.is_set(spec.name) && stored.size() < strait::config::max_line_bytes / 2 - 64)
      rewritten += spec.name + " " + quote_for_file(stored) + "\n";
  }
  return rewritten;
}

void check_reload(const strait::config& original, const std::string& rewritten) {
  strait::config reloaded;
  reloaded.load_text(rewritten, "fuzz.cfg");
  if (reloaded.has_errors()) violated("rewritten values do not load", reloaded.problems_text());
  for (const auto& spec : original.registry().all()) {
    if (reloaded.is_set(spec.name) &&
        reloaded.get_string(spec.name) != original.get_string(spec.name))
      violated("value changed on reload", spec.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strait::config cfg;
  cfg.load_text(text, "fuzz.cfg");

  check_problems(cfg);
  check_reload(cfg, check_values(cfg));

  // The first line doubles as a LIKE pattern, so that patterns get arbitrary bytes too.
  const std::string_view pattern = text.substr(0, std::min<std::size_t>(text.find('\n'), 64));
  if (cfg.show_variables(pattern).size() > cfg.registry().all().size())
    violated("show variables listed a key twice", pattern);
  cfg.problems_text();
  return 0;
}
