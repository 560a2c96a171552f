// SPDX-License-Identifier: Apache-2.0
#include <strait/config.hpp>
#include <strait/error.hpp>

#include "config_text.hpp"
#include "log_internal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <optional>
#include <system_error>
#include <utility>

namespace strait {
namespace {

using severity = config_problem::severity;
using detail::ascii_lower;
using detail::in_quotes;
using detail::lower;
using detail::printable;
using detail::same_folded;

char ascii_upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}
bool is_upper(char c) noexcept {
  return c >= 'A' && c <= 'Z';
}
bool is_lower_or_digit(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

// The name without underscores, for suggesting the nearest key.
std::string without_underscores(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_') out += c;
  }
  return out;
}

std::string_view trim_blanks(std::string_view text) {
  while (!text.empty() && is_blank(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back()))
    text.remove_suffix(1);
  return text;
}

// The value as it would have to be written in a file: in double quotes, with `"` and `\`
// escaped.
std::string quote_for_file(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The fields of one `key value` line. A line that is blank or a comment has an empty key.
struct line_fields {
  std::string_view key;
  std::string value;
  std::string error;         // why the line cannot be used, whatever its key; empty when it can
  bool white_space = false;  // an unquoted value with white space inside
  bool equals_sign = false;  // written `key = value`
};

// A quoted value: `"` ... `"` with `\"` and `\\` as the only escapes; any other backslash is
// kept, so that Windows paths need no doubling. `rest` starts at the opening quote.
line_fields parse_quoted(std::string_view key, std::string_view rest) {
  line_fields fields{key, {}, {}};
  std::size_t i = 1;
  for (; i < rest.size() && rest[i] != '"'; ++i) {
    if (rest[i] == '\\' && i + 1 < rest.size() && (rest[i + 1] == '"' || rest[i + 1] == '\\')) ++i;
    fields.value += rest[i];
  }
  if (i == rest.size()) {
    fields.error = "the quoted value " + in_quotes(rest) + " has no closing quote";
    return fields;
  }

  // After the closing quote only white space, or white space and a comment, may follow.
  const std::string_view tail = rest.substr(i + 1);
  const std::string_view after_blanks = trim_blanks(tail);
  if (!after_blanks.empty() && !(after_blanks.front() == '#' && is_blank(tail.front()))) {
    fields.error = "unexpected text " + in_quotes(after_blanks) + " after the closing quote";
  }
  return fields;
}

// An unquoted value ends at a `#` that follows white space (the start of a comment), so that
// `/data/run#2` stays whole.
line_fields parse_unquoted(std::string_view key, std::string_view rest) {
  std::size_t end = rest.size();
  for (std::size_t i = 1; i < rest.size(); ++i) {
    if (rest[i] == '#' && is_blank(rest[i - 1])) {
      end = i;
      break;
    }
  }
  const std::string_view value = trim_blanks(rest.substr(0, end));
  line_fields fields{key, std::string(value), {}};
  fields.white_space = std::any_of(value.begin(), value.end(), is_blank);
  return fields;
}

line_fields parse_value(std::string_view key, std::string_view rest) {
  return rest.front() == '"' ? parse_quoted(key, rest) : parse_unquoted(key, rest);
}

line_fields split_line(std::string_view line) {
  line = trim_blanks(line);
  if (line.empty() || line.front() == '#') return {};

  const std::size_t key_end = std::min(line.find_first_of(" \t"), line.size());
  const std::string_view key = line.substr(0, key_end);
  const std::string_view rest = trim_blanks(line.substr(key_end));
  if (rest.empty() || rest.front() == '#') {
    return {key, {}, "the key has no value; write it as: " + std::string(key) + " VALUE"};
  }
  if (rest.front() != '=') return parse_value(key, rest);

  // `key = value`, as other formats write it. The value is kept only for the message.
  const std::string_view after = trim_blanks(rest.substr(1));
  line_fields fields =
      after.empty() || after.front() == '#' ? line_fields{key} : parse_value(key, after);
  fields.equals_sign = true;
  return fields;
}

// How `key=value` or `key = value` is written in a configuration file.
std::string without_equals_sign(std::string_view key, std::string_view value) {
  const bool has_blank = std::any_of(value.begin(), value.end(), is_blank);
  const std::string shown = value.empty() ? "VALUE"
                            : has_blank   ? quote_for_file(printable(value))
                                          : printable(value);
  return "write '" + std::string(key) + " " + shown +
         "' (key, white space, value); a configuration file does not use '='";
}

// `serverPort=17001` reads as one unknown key. When the part before '=' is a key, the line was
// meant as a setting: this is that key and how to write the line.
struct setting_with_equals_sign {
  std::string key;
  std::string message;
};

std::optional<setting_with_equals_sign> joined_by_equals_sign(const param_registry& registry,
                                                              const line_fields& fields) {
  const std::size_t equals = fields.key.find('=');
  if (equals == std::string_view::npos) return std::nullopt;
  const param_spec* spec = registry.find(fields.key.substr(0, equals));
  if (spec == nullptr) return std::nullopt;

  const std::string_view joined = fields.key.substr(equals + 1);
  return setting_with_equals_sign{
      spec->name, without_equals_sign(spec->name, joined.empty() ? fields.value : joined)};
}

// Quotes make white space part of a text value; no other type takes white space, so for those
// the message says what the key takes instead.
std::string white_space_message(const param_spec& spec, std::string_view value) {
  if (spec.type == param_type::integer) {
    return in_quotes(value) + " is not a plain integer; " + spec.name + " takes " +
           accepted_form(spec) + ", without a unit (units are part of the key name)";
  }
  if (spec.type == param_type::string || spec.type == param_type::path ||
      spec.type == param_type::enumeration) {
    return "the value " + in_quotes(value) +
           " contains white space; put it in double quotes: " + spec.name + " " +
           quote_for_file(value);
  }
  return "the value " + in_quotes(value) + " contains white space, but " + spec.name + " takes " +
         accepted_form(spec);
}

// Configuration files are plain text: a control character other than tab means the file is
// binary or damaged. Returns the column (1-based) of the first one, or 0.
std::size_t control_character_column(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto byte = static_cast<unsigned char>(line[i]);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return i + 1;
  }
  return 0;
}

std::string did_you_mean(std::string_view suggestion) {
  return suggestion.empty() ? std::string() : "; did you mean '" + std::string(suggestion) + "'?";
}

// Reading a file: its text, or that it does not exist, or why it cannot be read.
struct file_text {
  enum class status { ok, missing, failed } state = status::ok;
  std::string text;
  std::string error;
};

file_text read_failure(std::string message) {
  return {file_text::status::failed, {}, std::move(message)};
}

std::string system_message(int error_number) {
  return std::generic_category().message(error_number);
}

class file_descriptor {
 public:
  explicit file_descriptor(int fd) noexcept : fd_(fd) {}
  file_descriptor(const file_descriptor&) = delete;
  file_descriptor& operator=(const file_descriptor&) = delete;
  ~file_descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

// Reads at most config::max_file_bytes. O_NONBLOCK keeps a FIFO given by mistake from blocking
// start-up; the regular-file check then rejects it.
file_text read_file(const std::filesystem::path& path) {
  const file_descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ENOENT) return {file_text::status::missing, {}, {}};
    return read_failure("cannot open the configuration file: " + system_message(errno));
  }

  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return read_failure("cannot read the configuration file: " + system_message(errno));
  }
  if (!S_ISREG(info.st_mode)) return read_failure("is not a regular file");
  if (static_cast<std::uint64_t>(info.st_size) > config::max_file_bytes) {
    return read_failure("is " + std::to_string(info.st_size) +
                        " bytes long; configuration files are limited to 1 MiB");
  }

  file_text file;
  char buffer[16384];
  while (file.text.size() <= config::max_file_bytes) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return read_failure("cannot read the configuration file: " + system_message(errno));
    if (got == 0) break;
    file.text.append(buffer, static_cast<std::size_t>(got));
  }
  if (file.text.size() > config::max_file_bytes) {
    return read_failure(
        "grew past 1 MiB while being read; configuration files are limited to "
        "1 MiB");
  }
  return file;
}

}  // namespace

std::string_view to_string(param_type type) noexcept {
  switch (type) {
    case param_type::boolean:
      return "boolean";
    case param_type::integer:
      return "integer";
    case param_type::string:
      return "string";
    case param_type::path:
      return "path";
    case param_type::endpoint:
      return "endpoint";
    case param_type::enumeration:
      return "enumeration";
    case param_type::host:
      return "host";
    case param_type::ipv6_address:
      return "IPv6 address";
  }
  return "unknown";
}

std::string_view to_string(param_scope scope) noexcept {
  switch (scope) {
    case param_scope::client:
      return "client";
    case param_scope::server:
      return "server";
    case param_scope::both:
      return "both";
  }
  return "unknown";
}

std::string_view to_string(value_source source) noexcept {
  switch (source) {
    case value_source::built_in:
      return "default";
    case value_source::file:
      return "file";
    case value_source::environment:
      return "environment";
    case value_source::command_line:
      return "command line";
    case value_source::api:
      return "api";
  }
  return "unknown";
}

std::string environment_name(std::string_view prefix, std::string_view key) {
  std::string name(prefix);
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i > 0 && is_upper(key[i]) && is_lower_or_digit(key[i - 1])) name += '_';
    name += ascii_upper(key[i]);
  }
  return name;
}

std::string config_problem::to_string() const {
  std::string text = origin;
  if (line > 0) text += ":" + std::to_string(line);
  if (!key.empty()) text += ": " + key;
  return text + ": " + message;
}

namespace {

struct like_token {
  enum class kind { literal, any_one, any_run } type;
  char literal;
  std::size_t length;  // characters of the pattern it takes
};

like_token like_token_at(std::string_view pattern, std::size_t at, char escape) {
  const char c = pattern[at];
  if (c == escape && at + 1 < pattern.size())
    return {like_token::kind::literal, pattern[at + 1], 2};
  if (c == escape) return {like_token::kind::literal, c, 1};  // a trailing escape is literal
  if (c == '%') return {like_token::kind::any_run, c, 1};
  if (c == '_') return {like_token::kind::any_one, c, 1};
  return {like_token::kind::literal, c, 1};
}

}  // namespace

// Greedy matching that, on a mismatch, lets the last `%` take one more character: linear in
// the text for each `%`, with no recursion.
bool sql_like(std::string_view text, std::string_view pattern, char escape) {
  constexpr std::size_t none = std::string_view::npos;
  std::size_t t = 0;
  std::size_t p = 0;
  std::size_t after_run = none;  // pattern position after the last `%` seen
  std::size_t run_start = 0;     // text position that `%` is matched up to

  while (t < text.size()) {
    if (p < pattern.size()) {
      const like_token token = like_token_at(pattern, p, escape);
      if (token.type == like_token::kind::any_run) {
        p += token.length;
        after_run = p;
        run_start = t;
        continue;
      }
      if (token.type == like_token::kind::any_one ||
          ascii_lower(token.literal) == ascii_lower(text[t])) {
        p += token.length;
        ++t;
        continue;
      }
    }
    if (after_run == none) return false;
    p = after_run;
    t = ++run_start;
  }

  while (p < pattern.size()) {
    const like_token token = like_token_at(pattern, p, escape);
    if (token.type != like_token::kind::any_run) return false;
    p += token.length;
  }
  return true;
}

config::config(param_registry registry) : registry_(std::move(registry)) {
  for (const auto& spec : registry_.all()) {
    values_[lower(spec.name)] = value{spec.default_value, value_source::built_in, {}, 0};
  }
}

void config::load_file(const std::filesystem::path& path, bool required) {
  std::error_code ignored;
  const std::filesystem::path file =
      std::filesystem::is_directory(path, ignored) ? path / "taos.cfg" : path;
  const std::string origin = file.string();

  const file_text read = read_file(file);
  if (read.state == file_text::status::missing && !required) {
    detail::log(log_level::info, "config", "no configuration file at ", origin,
                "; using the built-in defaults");
    return;
  }

  begin_source();
  if (read.state == file_text::status::missing) {
    report(severity::error, origin, 0, {}, "configuration file not found");
  } else if (read.state == file_text::status::failed) {
    report(severity::error, origin, 0, {}, read.error);
  } else {
    parse_text(read.text, origin);
  }
  end_source(origin);
}

void config::load_text(std::string_view text, std::string_view origin) {
  begin_source();
  if (text.size() > max_file_bytes) {
    report(severity::error, origin, 0, {},
           "is " + std::to_string(text.size()) +
               " bytes long; configuration files are limited to 1 MiB");
  } else {
    parse_text(text, origin);
  }
  end_source(origin);
}

void config::parse_text(std::string_view text, std::string_view origin) {
  constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";
  if (text.starts_with(byte_order_mark)) text.remove_prefix(byte_order_mark.size());

  std::map<std::string, int> seen;  // lower-case key -> line it was last set on
  int line_number = 0;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    parse_line(text.substr(0, end), origin, ++line_number, seen);
    text.remove_prefix(std::min(end + 1, text.size()));
  }
}

void config::parse_line(std::string_view line, std::string_view origin, int line_number,
                        std::map<std::string, int>& seen) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.size() > max_line_bytes) {
    report(severity::error, origin, line_number, {},
           "the line is " + std::to_string(line.size()) + " bytes long; lines are limited to " +
               std::to_string(max_line_bytes) + " bytes, so it was skipped");
    return;
  }
  if (const std::size_t column = control_character_column(line)) {
    report(severity::error, origin, line_number, {},
           "control character at column " + std::to_string(column) +
               "; a configuration file is plain text, so the line was skipped");
    return;
  }

  const line_fields fields = split_line(line);
  if (fields.key.empty()) return;
  const param_spec* spec = registry_.find(fields.key);
  if (spec == nullptr) {
    if (const auto meant = joined_by_equals_sign(registry_, fields)) {
      report(severity::error, origin, line_number, meant->key, meant->message);
      return;
    }
    // Past the cap the problem is only counted, so the search for a suggestion is skipped: a
    // megabyte of junk keys stays cheap.
    const bool listed = listed_in_source_ < max_problems_per_source;
    report(severity::warning, origin, line_number, printable(fields.key),
           "unknown key, ignored" + did_you_mean(listed ? registry_.nearest(fields.key) : ""));
    return;
  }
  if (fields.equals_sign) {
    report(severity::error, origin, line_number, spec->name,
           without_equals_sign(spec->name, fields.value));
    return;
  }
  if (!fields.error.empty()) {
    report(severity::error, origin, line_number, spec->name, fields.error);
    return;
  }
  if (fields.white_space) {
    report(severity::error, origin, line_number, spec->name,
           white_space_message(*spec, fields.value));
    return;
  }

  // Only accepted values count as settings: a rejected line has its own error, and "the last
  // one wins" would be wrong about it.
  if (!normalise(*spec, fields.value).ok()) {
    assign(spec->name, fields.value, value_source::file, origin, line_number);
    return;
  }
  const auto [earlier, first_time] = seen.try_emplace(lower(spec->name), line_number);
  if (!first_time) {
    report(severity::warning, origin, line_number, spec->name,
           "set on line " + std::to_string(earlier->second) + " and again on line " +
               std::to_string(line_number) + "; the last one wins");
    earlier->second = line_number;
  }
  assign(spec->name, fields.value, value_source::file, origin, line_number);
}

void config::load_environment(std::string_view prefix, const char* const* environment) {
  if (environment == nullptr) environment = ::environ;  // from <unistd.h>
  begin_source();
  for (const char* const* entry = environment; *entry != nullptr; ++entry) {
    load_environment_variable(prefix, *entry);
  }
  end_source("environment");
}

void config::load_environment_variable(std::string_view prefix, std::string_view entry) {
  const std::size_t equals = entry.find('=');
  if (equals == std::string_view::npos || !entry.starts_with(prefix)) return;
  const std::string_view name = entry.substr(0, equals);
  const std::string_view text = entry.substr(equals + 1);

  // Names are compared without underscores and case, so STRAIT_ENABLEIPV6 and
  // STRAIT_ENABLE_IPV6 both name enableIPv6.
  const std::string_view wanted = name.substr(prefix.size());
  for (const auto& spec : registry_.all()) {
    if (same_folded(spec.name, wanted)) {
      assign(spec.name, text, value_source::environment, name, 0);
      return;
    }
  }

  // Without a prefix every variable of the process would be a candidate; only a prefix makes
  // an unknown name a likely typo.
  if (prefix.empty()) return;
  const std::string suggestion = registry_.nearest(without_underscores(wanted));
  report(severity::warning, "environment", 0, printable(name),
         "no key has this name, ignored" +
             did_you_mean(suggestion.empty() ? suggestion : environment_name(prefix, suggestion)));
}

void config::set_from_command_line(std::string_view key, std::string_view text) {
  begin_source();
  const std::size_t equals = key.find('=');
  const bool has_value = equals != std::string_view::npos || !text.empty();
  if (equals != std::string_view::npos && text.empty()) {
    text = key.substr(equals + 1);
    key = key.substr(0, equals);
  }

  if (const param_spec* spec = registry_.find(key); spec == nullptr) {
    report(severity::error, "command line", 0, printable(key),
           "unknown key" + did_you_mean(registry_.nearest(key)));
  } else if (!has_value) {
    report(severity::error, "command line", 0, spec->name,
           "the key has no value; write " + spec->name + "=VALUE");
  } else {
    assign(spec->name, text, value_source::command_line, {}, 0);
  }
  end_source("command line");
}

result<bool> config::set(std::string_view key, std::string_view text) {
  const auto refuse = [](std::string message) {
    return result<bool>::failure(make_error_code(errc::invalid_configuration), std::move(message));
  };
  const param_spec* spec = registry_.find(key);
  if (spec == nullptr)
    return refuse("unknown key " + in_quotes(key) + did_you_mean(registry_.nearest(key)));
  if (frozen_ && !spec->dynamic) {
    return refuse(spec->name +
                  " cannot change at run time; change it in the configuration and restart");
  }
  auto checked = normalise(*spec, text);
  if (!checked) return refuse(spec->name + ": " + checked.message());

  value& current = values_[lower(spec->name)];
  const bool changed = current.text != checked.value();
  current = value{checked.value(), value_source::api, {}, 0};
  result<bool> outcome(changed);
  for (const auto& warning : checked.warnings())
    outcome.add_warning(spec->name + ": " + warning);
  return outcome;
}

result<std::string> config::normalise(const param_spec& spec, std::string_view raw) const {
  return check_value(spec, raw);
}

// Values from a source of lower precedence than the current one are checked, so that their
// problems are reported, but not stored: loading the environment before the file still lets
// the environment win.
void config::assign(std::string_view key, std::string_view raw, value_source source,
                    std::string_view origin, int line) {
  const param_spec& spec = *registry_.find(key);
  // Problems name where the value came from: the file and line, or the variable.
  const bool from_environment = source == value_source::environment;
  const std::string_view problem_origin = from_environment                       ? "environment"
                                          : source == value_source::command_line ? "command line"
                                                                                 : origin;
  const std::string_view problem_key = from_environment ? origin : std::string_view(spec.name);

  auto checked = normalise(spec, raw);
  if (!checked) {
    report(severity::error, problem_origin, line, problem_key, checked.message());
    return;
  }
  for (const auto& warning : checked.warnings()) {
    report(severity::warning, problem_origin, line, problem_key, warning);
  }

  value& current = values_[lower(spec.name)];
  if (source < current.source) return;
  current = value{checked.value(), source, std::string(origin), line};
}

const config::value& config::lookup(std::string_view key) const {
  const auto it = values_.find(lower(key));
  assert(it != values_.end() && "the key is not registered");
  static const value unregistered;
  return it == values_.end() ? unregistered : it->second;
}

bool config::get_bool(std::string_view key) const {
  return lookup(key).text == "1";
}

std::int64_t config::get_int(std::string_view key) const {
  const std::string& text = lookup(key).text;
  std::int64_t number = 0;
  std::from_chars(text.data(), text.data() + text.size(), number);
  return number;
}

const std::string& config::get_string(std::string_view key) const {
  return lookup(key).text;
}

bool config::is_set(std::string_view key) const {
  return lookup(key).source != value_source::built_in;
}

value_source config::source_of(std::string_view key) const {
  return lookup(key).source;
}

std::string config::origin_of(std::string_view key) const {
  const value& current = lookup(key);
  switch (current.source) {
    case value_source::file:
      return "file " + current.origin + ":" + std::to_string(current.line);
    case value_source::environment:
      return "environment " + current.origin;
    case value_source::built_in:
    case value_source::command_line:
    case value_source::api:
      break;
  }
  return std::string(to_string(current.source));
}

config_problem config::problem_about(std::string_view key, config_problem::severity level,
                                     std::string message) const {
  const value& current = lookup(key);
  config_problem problem{level, {}, 0, registry_.find(key)->name, std::move(message)};
  switch (current.source) {
    case value_source::file:
      problem.origin = current.origin;
      problem.line = current.line;
      return problem;
    case value_source::environment:
      problem.origin = "environment " + current.origin;
      return problem;
    case value_source::built_in:
    case value_source::command_line:
    case value_source::api:
      break;
  }
  problem.origin = std::string(to_string(current.source));
  return problem;
}

void config::add_problem(config_problem problem) {
  problems_.push_back(std::move(problem));
}

bool config::has_errors() const noexcept {
  if (strict_) return !problems_.empty();
  return std::any_of(problems_.begin(), problems_.end(), [](const config_problem& problem) {
    return problem.level == severity::error;
  });
}

std::string config::problems_text() const {
  std::string text;
  for (const auto& problem : problems_) {
    const bool is_error = strict_ || problem.level == severity::error;
    text += (is_error ? "error: " : "warning: ") + problem.to_string() + "\n";
  }
  return text;
}

std::vector<variable_row> config::show_variables(std::string_view like_pattern) const {
  std::vector<variable_row> rows;
  for (const auto& spec : registry_.all()) {
    if (!sql_like(spec.name, like_pattern)) continue;
    rows.push_back({spec.name, lookup(spec.name).text, std::string(to_string(spec.scope)),
                    origin_of(spec.name)});
  }
  return rows;
}

void config::report(config_problem::severity level, std::string_view origin, int line,
                    std::string_view key, std::string message) {
  if (listed_in_source_ >= max_problems_per_source) {
    ++unlisted_in_source_;
    unlisted_error_ = unlisted_error_ || level == severity::error;
    return;
  }
  ++listed_in_source_;
  problems_.push_back(
      config_problem{level, std::string(origin), line, std::string(key), std::move(message)});
}

void config::begin_source() noexcept {
  listed_in_source_ = 0;
  unlisted_in_source_ = 0;
  unlisted_error_ = false;
}

void config::end_source(std::string_view origin) {
  if (unlisted_in_source_ == 0) return;
  problems_.push_back(config_problem{
      unlisted_error_ ? severity::error : severity::warning,
      std::string(origin),
      0,
      {},
      std::to_string(unlisted_in_source_) + " more problems were found but not listed"});
}

}  // namespace strait
