// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/result.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace strait {

// `host`: a host name, IPv4 address or IPv6 address without a port, as `fqdn` takes it (the
// port of a node is always `serverPort`); it cannot be empty. `ipv6_address`: an IPv6 address,
// bare or in brackets (stored bare), as `serverIPv6` takes it; it cannot be empty.
enum class param_type { boolean, integer, string, path, endpoint, enumeration, host, ipv6_address };
enum class param_scope { client, server, both };
// Where a value came from. Later sources override earlier ones, in this order.
enum class value_source { built_in, file, environment, command_line, api };

std::string_view to_string(param_type) noexcept;
std::string_view to_string(param_scope) noexcept;
std::string_view to_string(value_source) noexcept;

// One configuration key: its canonical camelCase name, what values it takes, and where it
// applies. Keys are matched case-insensitively.
struct param_spec {
  std::string name;
  param_type type = param_type::string;
  // The default in the file's own syntax ("1", "6030", "::", ""). An empty string default means
  // "not set" for strings, paths and endpoints.
  std::string default_value;
  // Inclusive range; integers only.
  std::int64_t min = 0;
  std::int64_t max = 0;
  // Accepted values, compared case-insensitively; enumerations only.
  std::vector<std::string> choices;
  param_scope scope = param_scope::both;
  // Whether config::set may change the key after config::freeze. Keys that are read once at
  // start-up (every TLS key, `enableIPv6`, `serverPort`) are not dynamic.
  bool dynamic = false;
  std::string description;
};

// The set of keys a config accepts. Built-in keys come from with_builtin_keys(); an embedder
// adds its own with add() before loading any source.
class param_registry {
 public:
  // The seed's keys (fqdn, serverPort, firstEp, secondEp, enableIPv6, serverIPv6, enableTLS
  // and the five TLS paths) and the transport tunables.
  static param_registry with_builtin_keys();

  // Fails if a key of the same name (in any case) exists or the spec is inconsistent (a
  // default outside its range, an enumeration without choices).
  result<bool> add(param_spec spec);

  // Case-insensitive lookup; nullptr when unknown.
  const param_spec* find(std::string_view name) const;
  // The known key closest to `name` by edit distance, or empty when none is close.
  std::string nearest(std::string_view name) const;
  // Every key in the order it was added.
  const std::vector<param_spec>& all() const noexcept { return specs_; }

 private:
  std::vector<param_spec> specs_;
};

// Checks `raw` against `spec` and returns it in canonical form: booleans as "0" or "1", integers
// in plain decimal, enumerations in the registry's spelling, IPv6 addresses without brackets in
// their shortest form, other types unchanged. An empty string, path or endpoint means "not
// set"; an empty host or IPv6 address is refused. Fails with
// errc::invalid_configuration and a sentence that quotes the value and names the accepted form
// or range; endpoint and host warnings (a bare IPv6 literal that looks like it ends in a port)
// come back as warnings of the result.
result<std::string> check_value(const param_spec& spec, std::string_view raw);

// What a key accepts, in words: "an integer from 1 to 65535", "0 or 1 (...)", "one of: a, b".
std::string accepted_form(const param_spec& spec);

// The reference table of docs/configuration.md: one row per key of `registry` in registry order
// with its type, default, accepted values, scope, whether it may change at run time, its
// environment variable (prefix STRAIT_) and its description. The first and last lines are HTML
// comments that mark the generated part of the document; tools/strait-config-doc writes it.
std::string registry_markdown(const param_registry& registry);

// The environment variable a key is read from: `prefix` + the key in upper snake case
// (`firstEp` with prefix "STRAIT_" is STRAIT_FIRST_EP, `enableIPv6` is STRAIT_ENABLE_IPV6).
std::string environment_name(std::string_view prefix, std::string_view key);

// A problem found while loading or checking configuration. `origin` is a file path,
// "environment", "command line" or "api"; `line` is 0 where there is no line.
struct config_problem {
  enum class severity { warning, error };
  severity level = severity::error;
  std::string origin;
  int line = 0;
  std::string key;
  std::string message;

  // "taos.cfg:12: firstEp: <message>", or "<origin>: <key>: <message>" without a line.
  std::string to_string() const;
};

// One row of `show variables`: the effective value and where it came from.
struct variable_row {
  std::string name;
  std::string value;
  std::string scope;
  std::string source;  // "default", "file /etc/taos/taos.cfg:12", "environment STRAIT_X", ...
};

// SQL LIKE: `%` matches any run of characters, `_` exactly one, `escape` makes the next
// character literal. Case-insensitive, as MySQL and TDengine compare variable names.
bool sql_like(std::string_view text, std::string_view pattern, char escape = '\\');

// The effective configuration of a node or client: every key of its registry with a value and
// the source of that value. Loading collects problems instead of stopping at the first, so that
// a user sees everything that is wrong in one start-up attempt. A config is not synchronised:
// an embedder that calls set() at run time serialises it with reads of the same config.
class config {
 public:
  // Longer lines are an error and are skipped. A larger file is an error and is not read.
  static constexpr std::size_t max_line_bytes = 4096;
  static constexpr std::size_t max_file_bytes = 1024 * 1024;
  // Problems listed per source (one file, the environment, ...); the rest are counted in one
  // last problem, so that a binary file cannot fill memory with messages.
  static constexpr std::size_t max_problems_per_source = 100;

  explicit config(param_registry registry = param_registry::with_builtin_keys());

  // Reads a file in taos.cfg syntax (docs/configuration.md). `path` may name a directory, in
  // which case `taos.cfg` inside it is read. A missing file is an error when `required` is
  // true (a path given with -c) and an informational note otherwise.
  void load_file(const std::filesystem::path& path, bool required);
  // The same syntax from memory; `origin` names it in problems.
  void load_text(std::string_view text, std::string_view origin);
  // Every variable of `environment` (NAME=VALUE strings; the process environment when null)
  // that starts with `prefix` and names a known key after it. Unknown names with the prefix
  // are warnings.
  void load_environment(std::string_view prefix, const char* const* environment = nullptr);
  // A `key=value` or key and value given on a command line.
  void set_from_command_line(std::string_view key, std::string_view value);

  // Sets a key through the API. Before freeze() any key may be set; after it, keys that are
  // not dynamic are refused with a message that says the key needs a restart. Bad values are
  // refused with the accepted form or range. Returns true when the value changed.
  result<bool> set(std::string_view key, std::string_view value);
  // Marks the start of run time: from now on only dynamic keys may change.
  void freeze() noexcept { frozen_ = true; }
  bool frozen() const noexcept { return frozen_; }

  // Strict mode turns every warning (unknown key, repeated key, ...) into an error.
  void set_strict(bool strict) noexcept { strict_ = strict; }
  bool strict() const noexcept { return strict_; }

  // Typed getters. Precondition: the key is registered with that type (booleans for
  // get_bool, integers for get_int); anything goes for get_string.
  bool get_bool(std::string_view key) const;
  std::int64_t get_int(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  // True when some source other than the built-in default gave the key a value.
  bool is_set(std::string_view key) const;
  value_source source_of(std::string_view key) const;
  // Where the value came from, as shown by show_variables ("file taos.cfg:12").
  std::string origin_of(std::string_view key) const;

  // A problem about `key`, located where its current value came from: the file path and line,
  // "environment STRAIT_X", "command line", "api" or "default" (line 0 but for a file). Later
  // stages build their problems with it, so that they read like the parser's
  // ("taos.cfg:3: tlsCaPath: ..."). Precondition: the key is registered.
  config_problem problem_about(std::string_view key, config_problem::severity level,
                               std::string message) const;
  // Later stages (TLS, endpoints) report their own start-up problems here, so that every
  // problem is listed together.
  void add_problem(config_problem problem);
  const std::vector<config_problem>& problems() const noexcept { return problems_; }
  // True when any problem is an error (in strict mode, when there is any problem at all).
  bool has_errors() const noexcept;
  // Every problem, one per line.
  std::string problems_text() const;

  // Rows for `show variables like 'pattern'`, in registry order.
  std::vector<variable_row> show_variables(std::string_view like_pattern = "%") const;

  const param_registry& registry() const noexcept { return registry_; }

 private:
  struct value {
    std::string text;
    value_source source = value_source::built_in;
    std::string origin;  // file path, environment variable name, ...
    int line = 0;
  };

  result<std::string> normalise(const param_spec& spec, std::string_view raw) const;
  void assign(std::string_view key, std::string_view raw, value_source source,
              std::string_view origin, int line);
  const value& lookup(std::string_view key) const;
  void report(config_problem::severity level, std::string_view origin, int line,
              std::string_view key, std::string message);
  void parse_text(std::string_view text, std::string_view origin);
  void parse_line(std::string_view line, std::string_view origin, int line_number,
                  std::map<std::string, int>& seen);
  void load_environment_variable(std::string_view prefix, std::string_view entry);
  void begin_source() noexcept;
  void end_source(std::string_view origin);

  param_registry registry_;
  std::map<std::string, value> values_;  // by lower-case key
  std::vector<config_problem> problems_;
  bool frozen_ = false;
  bool strict_ = false;
  // Problems of the source being loaded: how many were listed, and how many only counted.
  std::size_t listed_in_source_ = 0;
  std::size_t unlisted_in_source_ = 0;
  bool unlisted_error_ = false;
};

}  // namespace strait
