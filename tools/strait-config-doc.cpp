// SPDX-License-Identifier: Apache-2.0
// Prints the configuration reference generated from the registry of built-in keys.
//
//   strait-config-doc                 the generated table alone
//   strait-config-doc DOCUMENT        DOCUMENT with its generated part replaced by the table
//
// docs/configuration.md is regenerated with
//   strait-config-doc docs/configuration.md > /tmp/configuration.md &&
//   mv /tmp/configuration.md docs/configuration.md
#include <strait/config.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

namespace {

// The generated part starts with the table's first line and ends with its last.
std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n') + 1);
}

std::string last_line(const std::string& text) {
  return text.substr(text.rfind('\n', text.size() - 2) + 1);
}

int replace_generated_part(const char* path, const std::string& table) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "strait-config-doc: cannot read " << path << "\n";
    return 1;
  }
  const std::string document(std::istreambuf_iterator<char>(in), {});

  const std::string begin_marker = first_line(table);
  const std::string end_marker = last_line(table);
  const std::size_t begin = document.find(begin_marker);
  const std::size_t end =
      begin == std::string::npos ? std::string::npos : document.find(end_marker, begin);
  if (end == std::string::npos) {
    std::cerr << "strait-config-doc: " << path << " has no generated part; it must contain the "
              << "lines\n  " << begin_marker << "  " << end_marker;
    return 1;
  }

  std::cout << document.substr(0, begin) << table << document.substr(end + end_marker.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string table = strait::registry_markdown(strait::param_registry::with_builtin_keys());
  if (argc == 1) {
    std::cout << table;
    return 0;
  }
  if (argc == 2) return replace_generated_part(argv[1], table);
  std::cerr << "usage: strait-config-doc [DOCUMENT]\n";
  return 2;
}
