// SPDX-License-Identifier: Apache-2.0
#include <strait/endpoint.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strait {
namespace {

using kind = endpoint::host_kind;

struct accepted_case {
  std::string input;
  std::uint16_t default_port;
  std::string host;
  std::uint16_t port;
  std::string zone;
  kind host_kind;
};

const std::vector<accepted_case>& accepted_cases() {
  static const std::vector<accepted_case> cases = {
      {"db1.example.com", 0, "db1.example.com", 0, "", kind::name},
      {"db1.example.com", 6030, "db1.example.com", 6030, "", kind::name},
      {"db1.example.com:7000", 6030, "db1.example.com", 7000, "", kind::name},
      {"localhost", 6030, "localhost", 6030, "", kind::name},
      {"DB1.Example.COM:1", 0, "DB1.Example.COM", 1, "", kind::name},
      {"db1.example.com.:65535", 0, "db1.example.com.", 65535, "", kind::name},
      {"a-b.c-d", 0, "a-b.c-d", 0, "", kind::name},
      {"x1", 0, "x1", 0, "", kind::name},
      {"127.0.0.1", 0, "127.0.0.1", 0, "", kind::ipv4},
      {"127.0.0.1:6030", 0, "127.0.0.1", 6030, "", kind::ipv4},
      {"0.0.0.0", 6030, "0.0.0.0", 6030, "", kind::ipv4},
      {"255.255.255.255:00080", 0, "255.255.255.255", 80, "", kind::ipv4},
      {"::1", 0, "::1", 0, "", kind::ipv6},
      {"::1", 6030, "::1", 6030, "", kind::ipv6},
      {"::", 0, "::", 0, "", kind::ipv6},
      {"2001:db8::1", 0, "2001:db8::1", 0, "", kind::ipv6},
      {"2001:DB8:0:0:0:0:0:1", 0, "2001:db8::1", 0, "", kind::ipv6},
      {"[::1]", 6030, "::1", 6030, "", kind::ipv6},
      {"[::1]:7000", 6030, "::1", 7000, "", kind::ipv6},
      {"[2001:db8::1]:6030", 0, "2001:db8::1", 6030, "", kind::ipv6},
      {"[2001:0DB8::0001]:6030", 0, "2001:db8::1", 6030, "", kind::ipv6},
      {"::ffff:127.0.0.1", 0, "::ffff:127.0.0.1", 0, "", kind::ipv6},
      {"fe80::1%eth0", 0, "fe80::1", 0, "eth0", kind::ipv6},
      {"fe80::1%2", 6030, "fe80::1", 6030, "2", kind::ipv6},
      {"[fe80::1%eth0]:6030", 0, "fe80::1", 6030, "eth0", kind::ipv6},
      {"[fe80::1%2]", 0, "fe80::1", 0, "2", kind::ipv6},
      {"[fe80::1%25eth0]:6030", 0, "fe80::1", 6030, "eth0", kind::ipv6},
      {"fe80::1%25eth0", 0, "fe80::1", 0, "eth0", kind::ipv6},
      {"[fe80::1%25]", 0, "fe80::1", 0, "25", kind::ipv6},
      {"[fe80::1%251]", 0, "fe80::1", 0, "251", kind::ipv6},
      {"[FE80::A%br-lan.10_x]", 0, "fe80::a", 0, "br-lan.10_x", kind::ipv6},
      {"2001:db8::1%eth0", 0, "2001:db8::1", 0, "eth0", kind::ipv6},
  };
  return cases;
}

TEST(Endpoint, ParsesEachAcceptedForm) {
  for (const auto& c : accepted_cases()) {
    SCOPED_TRACE(c.input);
    const auto parsed = endpoint::parse(c.input, c.default_port);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->host(), c.host);
    EXPECT_EQ(parsed->port(), c.port);
    EXPECT_EQ(parsed->zone(), c.zone);
    EXPECT_EQ(parsed->kind(), c.host_kind);
    EXPECT_EQ(parsed->is_address(), c.host_kind != kind::name);
    EXPECT_TRUE(parsed.warnings().empty()) << parsed.warnings().front();
  }
}

TEST(Endpoint, RoundTripsThroughToString) {
  for (const auto& c : accepted_cases()) {
    SCOPED_TRACE(c.input);
    const auto parsed = endpoint::parse(c.input, c.default_port);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    const auto again = endpoint::parse(parsed->to_string(), c.default_port);
    ASSERT_TRUE(again.ok()) << again.message();
    EXPECT_EQ(*again, *parsed) << parsed->to_string() << " vs " << again->to_string();
    EXPECT_EQ(again->to_string(), parsed->to_string());
  }
}

struct rejected_case {
  std::string input;
  std::string problem;  // a part of the message that says what is wrong
};

void expect_rejected(const std::vector<rejected_case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const auto parsed = endpoint::parse(c.input, 6030);
    ASSERT_FALSE(parsed.ok()) << "parsed as " << parsed->to_string();
    EXPECT_EQ(parsed.code(), make_error_code(errc::invalid_endpoint));
    EXPECT_NE(parsed.message().find("'" + c.input + "'"), std::string::npos) << parsed.message();
    EXPECT_NE(parsed.message().find(c.problem), std::string::npos) << parsed.message();
  }
}

TEST(Endpoint, RejectsEmptyHost) {
  expect_rejected({
      {"", "it is empty"},
      {":6030", "the host is empty"},
      {"[]:6030", "the host is empty"},
      {"[]", "the host is empty"},
  });
}

TEST(Endpoint, RejectsPortOutsideRange) {
  expect_rejected({
      {"host:0", "port 0"},
      {"host:65536", "'65536' is outside 1-65535"},
      {"host:99999999999999999999", "outside 1-65535"},
      {"host:", "the port after ':' is missing"},
      {"[::1]:", "the port after ':' is missing"},
      {"host:http", "'http' is not a number"},
      {"host:-1", "'-1' is not a number"},
      {"host:+80", "'+80' is not a number"},
      {"127.0.0.1:0", "port 0"},
      {"[::1]:70000", "outside 1-65535"},
  });
}

TEST(Endpoint, RejectsUnbalancedBrackets) {
  expect_rejected({
      {"[::1", "'[' has no matching ']'"},
      {"::1]", "brackets are unbalanced"},
      {"[::1]]", "brackets are unbalanced"},
      {"[[::1]", "brackets are unbalanced"},
      {"[::1]:6030]", "brackets are unbalanced"},
      {"host]:6030", "brackets are unbalanced"},
  });
}

TEST(Endpoint, RejectsTextAfterBracketThatIsNotPort) {
  expect_rejected({
      {"[::1]6030", "only ':port' may follow ']', not '6030'"},
      {"[::1] :6030", "only ':port' may follow ']'"},
      {"[::1]:60:30", "'60:30' is not a number"},
  });
}

TEST(Endpoint, RejectsBracketsAroundNonIpv6) {
  expect_rejected({
      {"[example.com]", "brackets are only for IPv6 addresses"},
      {"[127.0.0.1]:6030", "brackets are only for IPv6 addresses"},
  });
}

TEST(Endpoint, RejectsNamesBreakingRfc1123) {
  const std::string label63(63, 'a');
  const std::string label64(64, 'a');
  // 4 labels of 63 and one of 1: 4 * 64 + 1 = 257 characters.
  const std::string too_long = label63 + "." + label63 + "." + label63 + "." + label63 + ".a";
  expect_rejected({
      {label64 + ".example", "is 64 characters long; RFC 1123 allows at most 63"},
      {too_long, "is 257 characters long; RFC 1123 allows at most 253"},
      {"a..b", "empty label"},
      {".example", "empty label"},
      {"example..", "empty label"},
      {".", "empty label"},
      {"-db.example", "starts or ends with '-'"},
      {"db-.example", "starts or ends with '-'"},
      {"db_1.example", "contains '_'"},
      {"db 1", "contains ' '"},
      {"0x7f.0.0.1", "the last label '1' is all digits"},
  });
}

TEST(Endpoint, AcceptsNamesAtRfc1123Limits) {
  const std::string label63(63, 'a');
  // 3 labels of 63, one of 61 and the dots: 253 characters, plus a trailing dot.
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  for (const std::string& name : {label63 + ".example", longest, longest + "."}) {
    SCOPED_TRACE(name);
    const auto parsed = endpoint::parse(name);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->host(), name);
  }
}

TEST(Endpoint, RejectsInvalidIpv4) {
  expect_rejected({
      {"256.1.1.1", "'256.1.1.1' is not a valid IPv4 address"},
      {"1.2.3", "'1.2.3' is not a valid IPv4 address"},
      {"1.2.3.4.5:6030", "'1.2.3.4.5' is not a valid IPv4 address"},
      {"01.2.3.4", "without leading zeros"},
      {"1.2.3.4.", "not a valid IPv4 address"},
      {"6030", "not a valid IPv4 address"},
  });
}

TEST(Endpoint, RejectsInvalidIpv6) {
  expect_rejected({
      {"a:b:c", "'a:b:c' is not a valid IPv6 address"},
      {"2001:db8::1::2", "not a valid IPv6 address"},
      {"[2001:db8::g]", "not a valid IPv6 address"},
      {"[::1 ]", "not a valid IPv6 address"},
      {"2001:db8::1:60300",
       "not a valid IPv6 address; if the last number is the port, write [2001:db8::1]:60300"},
  });
}

TEST(Endpoint, RejectsLinkLocalWithoutZone) {
  expect_rejected({
      {"fe80::1", "fe80::1 is a link-local address, which needs a zone id"},
      {"[fe80::1]:6030", "link-local"},
      {"[FEBF::1]", "febf::1 is a link-local address"},
  });
}

TEST(Endpoint, RejectsBadZone) {
  expect_rejected({
      {"fe80::1%", "the zone id after '%' is empty"},
      {"[fe80::1%]:6030", "the zone id after '%' is empty"},
      {"[fe80::1%eth/0]", "contains '/'"},
      {"[fe80::1%eth0%1]", "contains '%'"},
      {"fe80::1%eth0:6030", "a port after a zone id needs brackets: write [fe80::1%eth0]:6030"},
      {"127.0.0.1%eth0", "a zone id ('%eth0') belongs only to an IPv6 address"},
      {"db1.example%eth0:6030", "belongs only to an IPv6 address"},
  });
}

TEST(Endpoint, ErrorMessageEscapesUnprintableInput) {
  struct escape_case {
    std::string input;
    std::string shown;
  };
  const std::vector<escape_case> cases = {
      {std::string("::1\0x", 5), "'::1\\x00x'"},
      {"d\xc3\xa9.example", "'d\\xc3\\xa9.example': it contains '\\xc3'"},
      {"db\n1", "'db\\x0a1': it contains '\\x0a'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.shown);
    const auto parsed = endpoint::parse(c.input);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.message().find(c.shown), std::string::npos) << parsed.message();
  }
}

TEST(Endpoint, ErrorMessageShortensVeryLongInput) {
  const std::string input(100000, 'a');
  const auto parsed = endpoint::parse(input);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.message().size(), 1000u);
  EXPECT_NE(parsed.message().find("...'"), std::string::npos) << parsed.message();
}

TEST(Endpoint, WarnsWhenBareIpv6EndsInPortLikeGroup) {
  struct warn_case {
    std::string input;
    std::string warning;  // empty: no warning
    std::uint16_t port = 0;
  };
  const std::vector<warn_case> cases = {
      {"2001:db8::1:6030",
       "'2001:db8::1:6030' is read as the IPv6 address 2001:db8::1:6030 with no port; if 6030 was "
       "meant as the port, write [2001:db8::1]:6030"},
      {"::1:80", "if 80 was meant as the port, write [::1]:80"},
      {"2001:db8::6030", "write [2001:db8::]:6030"},
      {"fe80::1:6030%eth0", "write [fe80::1%eth0]:6030"},
      {"::1", ""},
      {"2001:db8::1", ""},
      {"2001:db8::1:2", ""},
      {"2001:db8::1:ab", ""},
      {"1:2:3:4:5:6:7:80", ""},
      {"[2001:db8::1:6030]", ""},
      {"[2001:db8::1:6030]:6030", "", 6030},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const auto parsed = endpoint::parse(c.input);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->port(), c.port);
    if (c.warning.empty()) {
      EXPECT_TRUE(parsed.warnings().empty()) << parsed.warnings().front();
    } else {
      ASSERT_EQ(parsed.warnings().size(), 1u);
      EXPECT_NE(parsed.warnings().front().find(c.warning), std::string::npos)
          << parsed.warnings().front();
    }
  }
}

TEST(Endpoint, FormatsIpv6InBracketsAndOmitsPortZero) {
  struct format_case {
    std::string input;
    std::uint16_t default_port;
    std::string text;
    std::string resolver_host;
  };
  const std::vector<format_case> cases = {
      {"2001:db8::1", 6030, "[2001:db8::1]:6030", "2001:db8::1"},
      {"::1", 0, "[::1]", "::1"},
      {"[::1]:7000", 0, "[::1]:7000", "::1"},
      {"fe80::1%eth0", 6030, "[fe80::1%eth0]:6030", "fe80::1%eth0"},
      {"[fe80::1%25eth0]", 0, "[fe80::1%eth0]", "fe80::1%eth0"},
      {"127.0.0.1", 6030, "127.0.0.1:6030", "127.0.0.1"},
      {"example.com", 0, "example.com", "example.com"},
      {"Example.COM.:80", 0, "Example.COM.:80", "Example.COM."},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const auto parsed = endpoint::parse(c.input, c.default_port);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(parsed->to_string(), c.text);
    EXPECT_EQ(parsed->host_for_resolver(), c.resolver_host);
  }
}

TEST(Endpoint, DefaultEndpointIsEmptyName) {
  const endpoint e;
  EXPECT_EQ(e.kind(), kind::name);
  EXPECT_EQ(e.to_string(), "");
  EXPECT_FALSE(e.is_address());
}

TEST(Endpoint, WithPortKeepsHostAndZone) {
  const auto parsed = endpoint::parse("[fe80::1%eth0]:6030");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const endpoint moved = parsed->with_port(7000);
  EXPECT_EQ(moved.to_string(), "[fe80::1%eth0]:7000");
  EXPECT_EQ(moved.zone(), "eth0");
  EXPECT_EQ(parsed->port(), 6030);
}

TEST(Endpoint, FromAddressEqualsParsedEndpoint) {
  struct from_case {
    std::string address;
    std::uint16_t port;
    std::string parsed_from;
  };
  const std::vector<from_case> cases = {
      {"127.0.0.1", 6030, "127.0.0.1:6030"},   {"::1", 6030, "[::1]:6030"},
      {"2001:DB8::1", 80, "[2001:db8::1]:80"}, {"fe80::1%eth0", 6030, "[fe80::1%eth0]:6030"},
      {"fe80::1%3", 0, "[fe80::1%3]"},         {"localhost", 6030, "localhost:6030"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.address);
    const auto parsed = endpoint::parse(c.parsed_from);
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(endpoint::from_address(c.address, c.port), *parsed);
  }
}

}  // namespace
}  // namespace strait
