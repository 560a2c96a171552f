// SPDX-License-Identifier: Apache-2.0
// Any text that parses as an endpoint must format to text that parses back to the same
// endpoint, with the same default port; every rejection must be an invalid_endpoint error with
// a message. A violation aborts, so libFuzzer reports it with the input.
#include <strait/endpoint.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void violated(std::string_view what, std::string_view input, std::string_view detail) {
  std::fprintf(stderr, "endpoint_fuzz: %.*s\n  input: %.*s\n  %.*s\n",
               static_cast<int>(what.size()), what.data(), static_cast<int>(input.size()),
               input.data(), static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void check_round_trip(std::string_view input, std::uint16_t default_port) {
  const auto parsed = strait::endpoint::parse(input, default_port);
  if (!parsed) {
    if (parsed.code() != strait::errc::invalid_endpoint || parsed.message().empty())
      violated("rejection without invalid_endpoint and a message", input, parsed.message());
    return;
  }

  const std::string text = parsed->to_string();
  const auto again = strait::endpoint::parse(text, default_port);
  if (!again) violated("formatted endpoint does not parse", input, again.message());
  if (!(*again == *parsed))
    violated("parse(to_string(e)) != e", input, text + " -> " + again->to_string());
  if (again->to_string() != text) violated("to_string is not stable", input, text);

  const auto rebuilt = strait::endpoint::from_address(parsed->host_for_resolver(), parsed->port());
  if (!(rebuilt == *parsed))
    violated("from_address(host_for_resolver) != e", input, rebuilt.to_string());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  constexpr std::array<std::uint16_t, 3> default_ports = {0, 6030, 65535};
  for (const std::uint16_t port : default_ports)
    check_round_trip(input, port);
  return 0;
}
