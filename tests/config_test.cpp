// SPDX-License-Identifier: Apache-2.0
#include <strait/config.hpp>
#include <strait/log.hpp>

#include <gtest/gtest.h>

#include "run_unprivileged.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace strait {
namespace {

namespace fs = std::filesystem;
using severity = config_problem::severity;

config loaded(std::string_view text) {
  config cfg;
  cfg.load_text(text, "taos.cfg");
  return cfg;
}

// A directory of its own for each test that needs files, removed afterwards.
class temp_dir {
 public:
  temp_dir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("strait-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path_, ignored);
  }

  const fs::path& path() const { return path_; }

  fs::path write(const std::string& name, std::string_view text) const {
    const fs::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------------------------
// The registry

struct builtin_case {
  std::string name;
  param_type type;
  std::string default_value;
  std::int64_t min;
  std::int64_t max;
  param_scope scope;
  bool dynamic;
};

const std::vector<builtin_case>& builtin_table() {
  using enum param_type;
  using enum param_scope;
  static const std::vector<builtin_case> table = {
      {"fqdn", host, "localhost", 0, 0, both, false},
      {"serverPort", integer, "6030", 0, 65535, both, false},
      {"firstEp", endpoint, "", 0, 0, both, false},
      {"secondEp", endpoint, "", 0, 0, both, false},
      {"enableIPv6", boolean, "1", 0, 0, both, false},
      {"serverIPv6", ipv6_address, "::", 0, 0, server, false},
      {"enableTLS", boolean, "0", 0, 0, both, false},
      {"tlsCaPath", path, "", 0, 0, both, false},
      {"tlsSvrCertPath", path, "", 0, 0, server, false},
      {"tlsSvrKeyPath", path, "", 0, 0, server, false},
      {"tlsCliCertPath", path, "", 0, 0, both, false},
      {"tlsCliKeyPath", path, "", 0, 0, both, false},
      {"tlsVerifyPeerName", boolean, "0", 0, 0, both, false},
      {"ipv6Only", boolean, "0", 0, 0, server, false},
      {"connectTimeoutMs", integer, "5000", 1, 600000, both, true},
      {"happyEyeballsDelayMs", integer, "250", 10, 10000, both, true},
      {"resolveTimeoutMs", integer, "5000", 1, 600000, both, true},
      {"handshakeTimeoutMs", integer, "5000", 1, 600000, both, true},
      {"callTimeoutMs", integer, "30000", 1, 86400000, both, true},
      {"maxMessageSize", integer, "16777216", 1024, 1073741824, both, false},
      {"maxCallsInFlight", integer, "1024", 1, 1000000, both, false},
      {"maxSendQueueBytes", integer, "67108864", 65536, 4294967296, both, false},
      {"rpcThreads", integer, "1", 1, 256, both, false},
      {"keepAliveIntervalMs", integer, "5000", 100, 3600000, both, false},
      {"deadPeerTimeoutMs", integer, "20000", 300, 86400000, both, false},
      {"shutdownTimeoutMs", integer, "5000", 0, 600000, server, true},
      {"connectionsPerEndpoint", integer, "1", 1, 64, client, false},
      {"reconnectDelayMs", integer, "100", 1, 60000, client, true},
      {"maxReconnectDelayMs", integer, "5000", 1, 600000, client, true},
  };
  return table;
}

TEST(ParamRegistry, BuiltinKeysHaveTheirDocumentedTypeDefaultRangeScopeAndDynamism) {
  const auto registry = param_registry::with_builtin_keys();
  ASSERT_EQ(registry.all().size(), builtin_table().size());
  for (std::size_t i = 0; i < builtin_table().size(); ++i) {
    const auto& want = builtin_table()[i];
    const auto& spec = registry.all()[i];
    SCOPED_TRACE(want.name);
    EXPECT_EQ(spec.name, want.name);
    EXPECT_EQ(spec.type, want.type);
    EXPECT_EQ(spec.default_value, want.default_value);
    EXPECT_EQ(spec.scope, want.scope);
    EXPECT_EQ(spec.dynamic, want.dynamic);
    EXPECT_FALSE(spec.description.empty());
    if (want.type == param_type::integer) {
      EXPECT_EQ(spec.min, want.min);
      EXPECT_EQ(spec.max, want.max);
    }
  }
}

TEST(ParamRegistry, BuiltinSpecsPassTheChecksOfAdd) {
  const auto builtin = param_registry::with_builtin_keys();
  param_registry fresh;
  for (const auto& spec : builtin.all()) {
    SCOPED_TRACE(spec.name);
    const auto added = fresh.add(spec);
    EXPECT_TRUE(added.ok()) << added.message();
  }
}

TEST(ParamRegistry, FindIgnoresCase) {
  const auto registry = param_registry::with_builtin_keys();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"enableIPv6", "enableIPv6"},
      {"enableIpv6", "enableIPv6"},
      {"ENABLEIPV6", "enableIPv6"},
      {"firstep", "firstEp"},
      {"FQDN", "fqdn"},
      {"TlsCaPath", "tlsCaPath"},
  };
  for (const auto& [query, name] : cases) {
    SCOPED_TRACE(query);
    const param_spec* spec = registry.find(query);
    ASSERT_NE(spec, nullptr);
    EXPECT_EQ(spec->name, name);
  }
  EXPECT_EQ(registry.find("enable_ipv6"), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
}

TEST(ParamRegistry, NearestSuggestsCloseKeysOnly) {
  const auto registry = param_registry::with_builtin_keys();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"firtEp", "firstEp"},
      {"fdqn", "fqdn"},
      {"serverprot", "serverPort"},
      {"enableIP6", "enableIPv6"},
      {"tlsCaPth", "tlsCaPath"},
      {"connectTimeout", "connectTimeoutMs"},
      {"secondEP2", "secondEp"},
      {"banana", ""},
      {"", ""},
      {std::string(5000, 'x'), ""},
  };
  for (const auto& [name, expected] : cases) {
    SCOPED_TRACE(name.substr(0, 40));
    EXPECT_EQ(registry.nearest(name), expected);
  }
}

param_spec integer_spec(std::string name, std::string default_value, std::int64_t min,
                        std::int64_t max) {
  param_spec spec;
  spec.name = std::move(name);
  spec.type = param_type::integer;
  spec.default_value = std::move(default_value);
  spec.min = min;
  spec.max = max;
  return spec;
}

param_spec typed_spec(std::string name, param_type type, std::string default_value,
                      std::vector<std::string> choices = {}) {
  param_spec spec;
  spec.name = std::move(name);
  spec.type = type;
  spec.default_value = std::move(default_value);
  spec.choices = std::move(choices);
  return spec;
}

TEST(ParamRegistry, AddRefusesInconsistentSpecsAndSaysWhy) {
  struct add_case {
    std::string what;
    param_spec spec;
    std::string message;
  };
  const std::vector<add_case> cases = {
      {"same name in another case", integer_spec("SERVERPORT", "1", 1, 2),
       "already registered as 'serverPort'"},
      {"same environment variable", integer_spec("server_port", "1", 1, 2),
       "environment variable would be the same as that of 'serverPort'"},
      {"empty name", typed_spec("", param_type::string, ""), "1 to 64 letters"},
      {"name with a space", typed_spec("my key", param_type::string, ""), "1 to 64 letters"},
      {"name starting with a digit", typed_spec("1key", param_type::string, ""),
       "starting with a letter"},
      {"empty range", integer_spec("myRange", "5", 10, 1), "range is empty (min 10 > max 1)"},
      {"default out of range", integer_spec("myCount", "0", 1, 10),
       "its default '0' is out of range; expected an integer from 1 to 10"},
      {"default not a boolean", typed_spec("myFlag", param_type::boolean, "maybe"),
       "'maybe' is not a boolean"},
      {"enumeration without choices", typed_spec("myMode", param_type::enumeration, "a"),
       "needs at least one choice"},
      {"default not a choice", typed_spec("myMode", param_type::enumeration, "c", {"a", "b"}),
       "expected one of: a, b"},
      {"default not an endpoint", typed_spec("myPeer", param_type::endpoint, "[::1"),
       "is not an endpoint"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto registry = param_registry::with_builtin_keys();
    const auto added = registry.add(c.spec);
    ASSERT_FALSE(added.ok());
    EXPECT_NE(added.message().find(c.message), std::string::npos) << added.message();
    EXPECT_EQ(registry.all().size(), builtin_table().size());
  }
}

TEST(ParamRegistry, AddStoresTheDefaultInCanonicalForm) {
  struct default_case {
    param_spec spec;
    std::string stored;
  };
  const std::vector<default_case> cases = {
      {typed_spec("myFlag", param_type::boolean, "yes"), "1"},
      {typed_spec("myFlag", param_type::boolean, "OFF"), "0"},
      {integer_spec("myCount", "007", 1, 10), "7"},
      {typed_spec("myMode", param_type::enumeration, "FAST", {"fast", "safe"}), "fast"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.spec.default_value);
    param_registry registry;
    ASSERT_TRUE(registry.add(c.spec).ok());
    EXPECT_EQ(registry.all().back().default_value, c.stored);
  }
}

TEST(EnvironmentName, IsUpperSnakeCaseWithThePrefix) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"firstEp", "STRAIT_FIRST_EP"},
      {"enableTLS", "STRAIT_ENABLE_TLS"},
      {"enableIPv6", "STRAIT_ENABLE_IPV6"},
      {"serverIPv6", "STRAIT_SERVER_IPV6"},
      {"ipv6Only", "STRAIT_IPV6_ONLY"},
      {"tlsSvrCertPath", "STRAIT_TLS_SVR_CERT_PATH"},
      {"fqdn", "STRAIT_FQDN"},
      {"maxCallsInFlight", "STRAIT_MAX_CALLS_IN_FLIGHT"},
  };
  for (const auto& [key, name] : cases) {
    SCOPED_TRACE(key);
    EXPECT_EQ(environment_name("STRAIT_", key), name);
  }
  EXPECT_EQ(environment_name("", "firstEp"), "FIRST_EP");
}

// ---------------------------------------------------------------------------------------------
// SQL LIKE

TEST(SqlLike, MatchesPercentUnderscoreAndEscapesCaseInsensitively) {
  struct like_case {
    std::string text;
    std::string pattern;
    char escape;
    bool matches;
  };
  const std::vector<like_case> cases = {
      {"tlsCaPath", "%tls%", '\\', true},
      {"enableTLS", "%tls%", '\\', true},
      {"enableTLS", "%TLS", '\\', true},
      {"fqdn", "%tls%", '\\', false},
      {"fqdn", "fqdn", '\\', true},
      {"fqdn", "FQDN", '\\', true},
      {"fqdn", "fqd", '\\', false},
      {"fqdn", "fqdnx", '\\', false},
      {"fqdn", "f_dn", '\\', true},
      {"fqdn", "f__n", '\\', true},
      {"fqdn", "f_n", '\\', false},
      {"fqdn", "____", '\\', true},
      {"fqdn", "_____", '\\', false},
      {"", "", '\\', true},
      {"", "%", '\\', true},
      {"", "_", '\\', false},
      {"abc", "", '\\', false},
      {"abc", "%%%", '\\', true},
      {"abcabd", "%abd", '\\', true},
      {"abcabd", "a%b%d", '\\', true},
      {"abcabc", "a%b%d", '\\', false},
      {"100%", "100\\%", '\\', true},
      {"1000", "100\\%", '\\', false},
      {"a_b", "a\\_b", '\\', true},
      {"axb", "a\\_b", '\\', false},
      {"a\\b", "a\\\\b", '\\', true},
      {"100%", "100!%", '!', true},
      {"1000", "100!%", '!', false},
      {"a\\", "a\\", '\\', true},
      {"max_calls", "max!_%", '!', true},
      {"maxCalls", "max!_%", '!', false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("'" + c.text + "' LIKE '" + c.pattern + "' ESCAPE '" + c.escape + "'");
    EXPECT_EQ(sql_like(c.text, c.pattern, c.escape), c.matches);
  }
}

// ---------------------------------------------------------------------------------------------
// The file format

TEST(ConfigFile, ReadsValuesInEveryAcceptedForm) {
  struct value_case {
    std::string text;
    std::string key;
    std::string value;
  };
  const std::vector<value_case> cases = {
      {"fqdn node1.local", "fqdn", "node1.local"},
      {"  fqdn\t node1.local \t", "fqdn", "node1.local"},
      {"# a comment\n\n   # another\nfqdn node1.local\n", "fqdn", "node1.local"},
      {"fqdn node1.local # the node's name", "fqdn", "node1.local"},
      {"fqdn node1.local\t# after a tab", "fqdn", "node1.local"},
      {"tlsCaPath /data/run#2", "tlsCaPath", "/data/run#2"},
      {"tlsCaPath /data/run #2", "tlsCaPath", "/data/run"},
      {"tlsCaPath \"/data/my certs/ca.pem\"", "tlsCaPath", "/data/my certs/ca.pem"},
      {R"(tlsCaPath "say \"hi\" \\ there")", "tlsCaPath", R"(say "hi" \ there)"},
      {R"(tlsCaPath "C:\certs\ca.pem")", "tlsCaPath", R"(C:\certs\ca.pem)"},
      {"tlsCaPath \"/x y\"   # comment", "tlsCaPath", "/x y"},
      {"tlsCaPath \"#not a comment\"", "tlsCaPath", "#not a comment"},
      {"tlsCaPath \"\"", "tlsCaPath", ""},
      {"fqdn node1.local\r\nserverPort 7000\r\n", "fqdn", "node1.local"},
      {"\xEF\xBB\xBF"
       "fqdn node1.local",
       "fqdn", "node1.local"},
      {"FQDN node1.local", "fqdn", "node1.local"},
      {"enableIpv6 0", "enableIPv6", "0"},
      {"ENABLEIPV6 off", "enableIPv6", "0"},
      {"enableIPv6 No", "enableIPv6", "0"},
      {"enableIPv6 FALSE", "enableIPv6", "0"},
      {"enableTLS 1", "enableTLS", "1"},
      {"enableTLS true", "enableTLS", "1"},
      {"enableTLS YES", "enableTLS", "1"},
      {"enableTLS On", "enableTLS", "1"},
      {"serverPort 007", "serverPort", "7"},
      {"serverPort 65535", "serverPort", "65535"},
      {"shutdownTimeoutMs 0", "shutdownTimeoutMs", "0"},
      {"maxSendQueueBytes 4294967296", "maxSendQueueBytes", "4294967296"},
      {"firstEp node1.local:6030", "firstEp", "node1.local:6030"},
      {"firstEp [::1]:6030", "firstEp", "[::1]:6030"},
      {"secondEp 127.0.0.1", "secondEp", "127.0.0.1"},
      {"serverIPv6 ::1", "serverIPv6", "::1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const config cfg = loaded(c.text);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
    EXPECT_EQ(cfg.get_string(c.key), c.value);
    EXPECT_EQ(cfg.source_of(c.key), value_source::file);
  }
}

TEST(ConfigFile, TypedGettersReadNormalisedValues) {
  const config cfg = loaded("enableIPv6 off\nenableTLS yes\nserverPort 7000\n");
  EXPECT_FALSE(cfg.get_bool("enableIPv6"));
  EXPECT_TRUE(cfg.get_bool("ENABLETLS"));
  EXPECT_EQ(cfg.get_int("serverPort"), 7000);
  EXPECT_EQ(cfg.get_int("maxSendQueueBytes"), 67108864);
  EXPECT_TRUE(cfg.is_set("serverPort"));
  EXPECT_FALSE(cfg.is_set("fqdn"));
}

struct problem_case {
  std::string text;
  severity level;
  int line;
  std::string key;
  std::string message;  // a part of the message
};

void expect_one_problem(const problem_case& c) {
  const config cfg = loaded(c.text);
  ASSERT_EQ(cfg.problems().size(), 1U) << cfg.problems_text();
  const config_problem& problem = cfg.problems().front();
  EXPECT_EQ(problem.level, c.level);
  EXPECT_EQ(problem.origin, "taos.cfg");
  EXPECT_EQ(problem.line, c.line);
  EXPECT_EQ(problem.key, c.key);
  EXPECT_NE(problem.message.find(c.message), std::string::npos) << problem.message;
}

TEST(ConfigFile, ReportsSyntaxProblemsWithLineAndKey) {
  const std::vector<problem_case> cases = {
      {"fqdn", severity::error, 1, "fqdn", "the key has no value; write it as: fqdn VALUE"},
      {"\nfqdn   # no value", severity::error, 2, "fqdn", "has no value"},
      {"tlsCaPath /my certs/ca.pem", severity::error, 1, "tlsCaPath",
       "the value '/my certs/ca.pem' contains white space; put it in double quotes: "
       "tlsCaPath \"/my certs/ca.pem\""},
      {"tlsCaPath \"/my certs", severity::error, 1, "tlsCaPath", "has no closing quote"},
      {"tlsCaPath \"/x\"y", severity::error, 1, "tlsCaPath",
       "unexpected text 'y' after the closing quote"},
      {"tlsCaPath \"/x\"#y", severity::error, 1, "tlsCaPath", "after the closing quote"},
      {"fqdn " + std::string(config::max_line_bytes, 'a'), severity::error, 1, "",
       "lines are limited to 4096 bytes"},
      {"fqdn a\x01z", severity::error, 1, "", "control character at column 7"},
      {std::string("fqdn a\0z", 8), severity::error, 1, "", "control character at column 7"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 60));
    expect_one_problem(c);
  }
}

TEST(ConfigFile, EscapesBytesOutsideAsciiInMessages) {
  const std::vector<problem_case> cases = {
      {"caf\xc3\xa9 1", severity::warning, 1, "caf\\xc3\\xa9", "unknown key"},
      {"serverPort 7\xc2\xa0"
       "0",
       severity::error, 1, "serverPort", "'7\\xc2\\xa00' is not an integer"},
      {"enableTLS \x9b"
       "1",
       severity::error, 1, "enableTLS", "'\\x9b1' is not a boolean"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    expect_one_problem(c);
    const std::string text = loaded(c.text).problems_text();
    EXPECT_TRUE(std::none_of(text.begin(), text.end(), [](char byte) {
      return static_cast<unsigned char>(byte) >= 0x80;
    })) << text;
  }
}

TEST(ConfigFile, SaysHowToWriteALineWithAnEqualsSignOrAUnit) {
  const std::string usage = "' (key, white space, value); a configuration file does not use '='";
  const std::vector<problem_case> cases = {
      {"serverPort=17001", severity::error, 1, "serverPort", "write 'serverPort 17001" + usage},
      {"serverport= 17001 # c", severity::error, 1, "serverPort",
       "write 'serverPort 17001" + usage},
      {"rpcThreads = 2", severity::error, 1, "rpcThreads", "write 'rpcThreads 2" + usage},
      {"rpcThreads =2", severity::error, 1, "rpcThreads", "write 'rpcThreads 2" + usage},
      {"tlsCaPath = \"/my certs/ca.pem\"", severity::error, 1, "tlsCaPath",
       "write 'tlsCaPath \"/my certs/ca.pem\"" + usage},
      {"fqdn =", severity::error, 1, "fqdn", "write 'fqdn VALUE" + usage},
      {"keepAliveIntervalMs 100 ms", severity::error, 1, "keepAliveIntervalMs",
       "'100 ms' is not a plain integer; keepAliveIntervalMs takes an integer from 100 to "
       "3600000, without a unit (units are part of the key name)"},
      {"maxMessageSize 16 MiB", severity::error, 1, "maxMessageSize", "is not a plain integer"},
      {"enableTLS yes please", severity::error, 1, "enableTLS",
       "the value 'yes please' contains white space, but enableTLS takes 0 or 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_one_problem(c);
    EXPECT_FALSE(loaded(c.text).is_set(c.key));
  }
}

TEST(ConfigFile, ReportsUnknownAndRepeatedKeysAsWarnings) {
  const std::vector<problem_case> cases = {
      {"firtEp node1.local:6030", severity::warning, 1, "firtEp",
       "unknown key, ignored; did you mean 'firstEp'?"},
      {"\n\nenableIP6 1", severity::warning, 3, "enableIP6", "did you mean 'enableIPv6'?"},
      {"serverPort 6030\nserverPort 6031", severity::warning, 2, "serverPort",
       "set on line 1 and again on line 2; the last one wins"},
      {"firstEp a.local:1\n# x\nFIRSTEP b.local:2", severity::warning, 3, "firstEp",
       "set on line 1 and again on line 3"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_one_problem(c);
  }
  EXPECT_EQ(loaded("banana 1").problems().front().message, "unknown key, ignored");
}

TEST(ConfigFile, ReportsBadValuesWithTheAcceptedFormOrRange) {
  const std::string port_range = "expected an integer from 0 to 65535";
  const std::vector<problem_case> cases = {
      {"enableTLS maybe", severity::error, 1, "enableTLS",
       "'maybe' is not a boolean; use 0 or 1 (also true/false, yes/no, on/off)"},
      {"enableIPv6 2", severity::error, 1, "enableIPv6", "'2' is not a boolean"},
      {"serverPort 65536", severity::error, 1, "serverPort",
       "'65536' is out of range; " + port_range},
      {"serverPort 65536", severity::error, 1, "serverPort", "'65536' is out of range"},
      {"serverPort -1", severity::error, 1, "serverPort", "'-1' is out of range"},
      {"serverPort 99999999999999999999999", severity::error, 1, "serverPort",
       "'99999999999999999999999' is out of range; " + port_range},
      {"serverPort -99999999999999999999999", severity::error, 1, "serverPort", "out of range"},
      {"serverPort 60x", severity::error, 1, "serverPort",
       "'60x' is not an integer; " + port_range},
      {"serverPort 0x10", severity::error, 1, "serverPort", "is not an integer"},
      {"serverPort +6030", severity::error, 1, "serverPort", "is not an integer"},
      {"maxSendQueueBytes 4294967297", severity::error, 1, "maxSendQueueBytes",
       "expected an integer from 65536 to 4294967296"},
      {"firstEp [::1", severity::error, 1, "firstEp", "'[::1' is not an endpoint"},
      {"firstEp node1.local:99999", severity::error, 1, "firstEp", "is not an endpoint"},
      {"secondEp :6030", severity::error, 1, "secondEp",
       "expected host, host:port, [IPv6] or [IPv6]:port"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_one_problem(c);
  }
}

TEST(ConfigFile, FqdnTakesAHostWithoutAPort) {
  const std::string without_port =
      "fqdn takes a host name or address without a port; put the port in serverPort";
  const std::vector<problem_case> cases = {
      {"fqdn a_b", severity::error, 1, "fqdn", "'a_b' is not a host (invalid endpoint 'a_b'"},
      {"fqdn 999.1.1.1", severity::error, 1, "fqdn", "is not a valid IPv4 address"},
      {"fqdn fe80::1", severity::error, 1, "fqdn", "needs a zone id naming the interface"},
      {"fqdn -bad-", severity::error, 1, "fqdn", "starts or ends with '-'"},
      {"fqdn x..y", severity::error, 1, "fqdn", "empty label"},
      {"fqdn \xff\xfe", severity::error, 1, "fqdn", "'\\xff\\xfe' is not a host"},
      {"fqdn \"\"", severity::error, 1, "fqdn",
       "the value is empty; expected a host name, IPv4 address or IPv6 address, without a port"},
      {"fqdn [::1]:5", severity::error, 1, "fqdn", "'[::1]:5' has a port; " + without_port},
      {"fqdn node1.local:6030", severity::error, 1, "fqdn", without_port},
      {"fqdn 2001:db8::1:6030", severity::warning, 1, "fqdn",
       "'2001:db8::1:6030' is read as an IPv6 address; if 6030 was meant as the port, write the "
       "address alone and put the port in serverPort"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_one_problem(c);
  }
  for (const std::string host :
       {"node1.local", "localhost", "127.0.0.1", "::1", "[::1]", "fe80::1%eth0", "node1.local."}) {
    SCOPED_TRACE(host);
    const config cfg = loaded("fqdn " + host);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
    EXPECT_EQ(cfg.get_string("fqdn"), host);
  }
}

TEST(ConfigFile, ServerIpv6TakesAnIpv6AddressWithOrWithoutBrackets) {
  const std::vector<problem_case> cases = {
      {"serverIPv6 banana", severity::error, 1, "serverIPv6",
       "'banana' is a host name, not an IPv6 address"},
      {"serverIPv6 127.0.0.1", severity::error, 1, "serverIPv6",
       "'127.0.0.1' is an IPv4 address, but serverIPv6 takes an IPv6 address. IPv4 needs no key: "
       "IPv4 clients are served unless ipv6Only is 1; to listen on IPv4 only, set enableIPv6 0"},
      {"serverIPv6 [::1]:6030", severity::error, 1, "serverIPv6",
       "'[::1]:6030' has a port; serverIPv6 takes an address alone"},
      {"serverIPv6 fe80::1", severity::error, 1, "serverIPv6", "needs a zone id"},
      {"serverIPv6 ::1::2", severity::error, 1, "serverIPv6", "'::1::2' is not an IPv6 address"},
      {"serverIPv6 \"\"", severity::error, 1, "serverIPv6", "the value is empty"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    expect_one_problem(c);
  }

  const std::vector<std::pair<std::string, std::string>> accepted = {
      {"::", "::"},
      {"[::]", "::"},
      {"::1", "::1"},
      {"[::1]", "::1"},
      {"[fe80::1%eth0]", "fe80::1%eth0"},
      {"2001:DB8:0::10", "2001:db8::10"},
  };
  for (const auto& [text, stored] : accepted) {
    SCOPED_TRACE(text);
    const config cfg = loaded("serverIPv6 " + text);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
    EXPECT_EQ(cfg.get_string("serverIPv6"), stored);
  }
}

TEST(ConfigFile, BadValueKeepsThePreviousValueAndDoesNotCountAsARepeat) {
  const config cfg =
      loaded("serverPort 7000\nserverPort 65536\nenableTLS maybe\nserverPort 7001\n");
  EXPECT_EQ(cfg.get_int("serverPort"), 7001);
  EXPECT_FALSE(cfg.get_bool("enableTLS"));
  EXPECT_EQ(cfg.origin_of("serverPort"), "file taos.cfg:4");
  ASSERT_EQ(cfg.problems().size(), 3U) << cfg.problems_text();
  EXPECT_EQ(cfg.problems()[2].message, "set on line 1 and again on line 4; the last one wins");
}

TEST(ConfigFile, CollectsEveryProblemInsteadOfStoppingAtTheFirst) {
  const config cfg = loaded(
      "firtEp a.local:1\n"  // 1: unknown key
      "serverPort 65536\n"  // 2: out of range
      "fqdn node1.local\n"  // 3: fine
      "enableTLS\n"         // 4: no value
      "tlsCaPath a b\n"     // 5: unquoted space
      "fqdn node2.local\n"  // 6: repeated
      "rpcThreads 4\n");    // 7: fine
  std::vector<int> lines;
  for (const auto& problem : cfg.problems())
    lines.push_back(problem.line);
  EXPECT_EQ(lines, (std::vector<int>{1, 2, 4, 5, 6})) << cfg.problems_text();
  EXPECT_TRUE(cfg.has_errors());
  EXPECT_EQ(cfg.get_string("fqdn"), "node2.local");
  EXPECT_EQ(cfg.get_int("rpcThreads"), 4);
}

TEST(ConfigFile, AcceptsALineOfExactlyTheLimit) {
  const std::string prefix = "tlsCaPath /";
  const std::string value = "/" + std::string(config::max_line_bytes - prefix.size(), 'a');
  const config cfg = loaded("tlsCaPath " + value);
  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
  EXPECT_EQ(cfg.get_string("tlsCaPath"), value);
}

TEST(ConfigFile, RefusesTextLargerThanOneMiB) {
  std::string text;
  while (text.size() <= config::max_file_bytes)
    text += "serverPort 7000\n";
  const config cfg = loaded(text);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_EQ(cfg.problems().front().line, 0);
  EXPECT_NE(cfg.problems().front().message.find("limited to 1 MiB"), std::string::npos);
  EXPECT_FALSE(cfg.is_set("serverPort"));
}

TEST(ConfigFile, ListsAtMostAHundredProblemsPerSourceAndCountsTheRest) {
  struct cap_case {
    std::string text;
    std::size_t unlisted;
    severity summary_level;
  };
  std::string warnings;
  for (int i = 0; i < 150; ++i)
    warnings += "banana 1\n";
  const std::vector<cap_case> cases = {
      {warnings, 50, severity::warning},
      {warnings + "serverPort 65536\n", 51, severity::error},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.unlisted);
    const config cfg = loaded(c.text);
    ASSERT_EQ(cfg.problems().size(), config::max_problems_per_source + 1);
    const config_problem& summary = cfg.problems().back();
    EXPECT_EQ(summary.level, c.summary_level);
    EXPECT_EQ(summary.message,
              std::to_string(c.unlisted) + " more problems were found but not listed");
  }
}

TEST(ConfigFile, BinaryJunkYieldsErrorsAndBoundedProblems) {
  std::mt19937 random(20240601);  // fixed seed: the same junk on every run
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    std::string junk(64 * 1024, '\0');
    for (char& c : junk)
      c = static_cast<char>(random() & 0xff);
    const config cfg = loaded(junk);
    EXPECT_TRUE(cfg.has_errors());
    EXPECT_LE(cfg.problems().size(), config::max_problems_per_source + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Files

TEST(ConfigLoadFile, ReadsTaosCfgInsideADirectory) {
  const temp_dir dir;
  dir.write("taos.cfg", "# node\nserverPort 7001\n");
  config cfg;
  cfg.load_file(dir.path(), true);
  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
  EXPECT_EQ(cfg.get_int("serverPort"), 7001);
  EXPECT_EQ(cfg.origin_of("serverPort"), "file " + (dir.path() / "taos.cfg").string() + ":2");
}

TEST(ConfigLoadFile, ReadsAFileNamedDirectly) {
  const temp_dir dir;
  const fs::path file = dir.write("node.cfg", "serverPort 7002\nbanana 1\n");
  config cfg;
  cfg.load_file(file, true);
  EXPECT_EQ(cfg.get_int("serverPort"), 7002);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_EQ(cfg.problems().front().to_string(), file.string() + ":2: banana: unknown key, ignored");
}

TEST(ConfigLoadFile, MissingRequiredFileIsAnError) {
  const temp_dir dir;
  config cfg;
  cfg.load_file(dir.path() / "absent.cfg", true);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_EQ(cfg.problems().front().to_string(),
            (dir.path() / "absent.cfg").string() + ": configuration file not found");
  EXPECT_TRUE(cfg.has_errors());
}

TEST(ConfigLoadFile, MissingOptionalFileMeansDefaultsAndOneInformationalNote) {
  const temp_dir dir;
  std::vector<std::string> notes;
  set_log_sink([&](const log_record& record) {
    if (record.module == "config")
      notes.push_back(std::string(to_string(record.level)) + " " + std::string(record.text));
  });
  config cfg;
  cfg.load_file(dir.path(), false);  // a directory without taos.cfg
  set_log_sink({});

  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
  EXPECT_EQ(cfg.get_int("serverPort"), 6030);
  ASSERT_EQ(notes.size(), 1U);
  EXPECT_EQ(notes.front().rfind("info ", 0), 0U) << notes.front();
  EXPECT_NE(notes.front().find((dir.path() / "taos.cfg").string()), std::string::npos);
}

TEST(ConfigLoadFile, UnreadableFileIsAnError) {
  const temp_dir dir;
  const fs::path plain = dir.write("plain.cfg", "serverPort 7003\n");
  fs::create_directories(dir.path() / "nested" / "taos.cfg");  // a directory, not a file
  struct unreadable_case {
    fs::path path;
    std::string message;
  };
  const std::vector<unreadable_case> cases = {
      {plain / "taos.cfg", "cannot open the configuration file: Not a directory"},
      {dir.path() / "nested", "is not a regular file"},
      {"/dev/null", "is not a regular file"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path.string());
    config cfg;
    cfg.load_file(c.path, false);
    ASSERT_EQ(cfg.problems().size(), 1U);
    EXPECT_EQ(cfg.problems().front().message, c.message);
    EXPECT_TRUE(cfg.has_errors());
  }
}

TEST(ConfigLoadFile, FileWithoutReadPermissionIsAnError) {
  const temp_dir dir;
  const fs::path file = dir.write("taos.cfg", "serverPort 7004\n");
  fs::permissions(dir.path(), fs::perms::others_exec, fs::perm_options::add);
  fs::permissions(file, fs::perms::none);
  EXPECT_TRUE(strait::testing::run_unprivileged([&] {
    config cfg;
    cfg.load_file(file, true);
    const bool refused =
        cfg.problems().size() == 1 &&
        cfg.problems().front().message == "cannot open the configuration file: Permission denied";
    if (!refused) std::fprintf(stderr, "problems:\n%s", cfg.problems_text().c_str());
    return refused;
  }));
}

TEST(ConfigLoadFile, FileLargerThanOneMiBIsAnErrorAndNotRead) {
  const temp_dir dir;
  std::string text;
  while (text.size() <= config::max_file_bytes)
    text += "serverPort 7005\n";
  dir.write("taos.cfg", text);
  config cfg;
  cfg.load_file(dir.path(), true);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_NE(cfg.problems().front().message.find("limited to 1 MiB"), std::string::npos);
  EXPECT_FALSE(cfg.is_set("serverPort"));
}

// ---------------------------------------------------------------------------------------------
// Sources and precedence

// Each row sets serverPort from some of the sources; the highest one must win.
TEST(ConfigPrecedence, LaterSourcesOverrideEarlierOnes) {
  struct precedence_case {
    bool file, environment, command_line, api;
    std::int64_t port;
    std::string origin;
  };
  const std::vector<precedence_case> cases = {
      {false, false, false, false, 6030, "default"},
      {true, false, false, false, 7001, "file taos.cfg:1"},
      {true, true, false, false, 7002, "environment STRAIT_SERVER_PORT"},
      {false, true, false, false, 7002, "environment STRAIT_SERVER_PORT"},
      {true, true, true, false, 7003, "command line"},
      {true, false, true, false, 7003, "command line"},
      {true, true, true, true, 7004, "api"},
      {false, false, false, true, 7004, "api"},
  };
  const char* const environment[] = {"STRAIT_SERVER_PORT=7002", nullptr};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.origin);
    config cfg;
    if (c.file) cfg.load_text("serverPort 7001", "taos.cfg");
    if (c.environment) cfg.load_environment("STRAIT_", environment);
    if (c.command_line) cfg.set_from_command_line("serverPort", "7003");
    if (c.api) {
      ASSERT_TRUE(cfg.set("serverPort", "7004").ok());
    }
    EXPECT_EQ(cfg.get_int("serverPort"), c.port);
    EXPECT_EQ(cfg.origin_of("serverPort"), c.origin);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
  }
}

TEST(ConfigPrecedence, LoadingOrderDoesNotChangeWhichSourceWins) {
  const char* const environment[] = {"STRAIT_SERVER_PORT=7002", "STRAIT_FQDN=env.local", nullptr};
  config cfg;
  cfg.set_from_command_line("fqdn=cli.local", "");
  cfg.load_environment("STRAIT_", environment);
  cfg.load_text("serverPort 7001\nfqdn file.local\nrpcThreads 2\n", "taos.cfg");
  EXPECT_EQ(cfg.get_int("serverPort"), 7002);
  EXPECT_EQ(cfg.source_of("serverPort"), value_source::environment);
  EXPECT_EQ(cfg.get_string("fqdn"), "cli.local");
  EXPECT_EQ(cfg.source_of("fqdn"), value_source::command_line);
  EXPECT_EQ(cfg.get_int("rpcThreads"), 2);
}

TEST(ConfigPrecedence, ABadValueOfALowerSourceIsStillReported) {
  const char* const environment[] = {"STRAIT_SERVER_PORT=7002", nullptr};
  config cfg;
  cfg.load_environment("STRAIT_", environment);
  cfg.load_text("serverPort 65536", "taos.cfg");
  EXPECT_EQ(cfg.get_int("serverPort"), 7002);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_EQ(cfg.problems().front().line, 1);
}

TEST(ConfigEnvironment, MatchesNamesIgnoringUnderscoresAndCase) {
  struct env_case {
    std::string variable;
    std::string key;
    std::string value;
  };
  const std::vector<env_case> cases = {
      {"STRAIT_FIRST_EP=node1.local:6030", "firstEp", "node1.local:6030"},
      {"STRAIT_ENABLE_TLS=on", "enableTLS", "1"},
      {"STRAIT_ENABLE_IPV6=0", "enableIPv6", "0"},
      {"STRAIT_ENABLEIPV6=false", "enableIPv6", "0"},
      {"STRAIT_enable_ipv6=no", "enableIPv6", "0"},
      {"STRAIT_SERVER_PORT=7000", "serverPort", "7000"},
      {"STRAIT_TLS_CA_PATH=/etc/strait/ca.pem", "tlsCaPath", "/etc/strait/ca.pem"},
      {"STRAIT_TLS_CA_PATH=/a b/c=d", "tlsCaPath", "/a b/c=d"},
      {"STRAIT_SECOND_EP=", "secondEp", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.variable);
    const char* const environment[] = {c.variable.c_str(), nullptr};
    config cfg;
    cfg.load_environment("STRAIT_", environment);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
    EXPECT_EQ(cfg.get_string(c.key), c.value);
    const std::string name = c.variable.substr(0, c.variable.find('='));
    EXPECT_EQ(cfg.origin_of(c.key), "environment " + name);
  }
}

TEST(ConfigEnvironment, IgnoresOtherVariablesAndWarnsAboutUnknownNamesWithThePrefix) {
  const char* const environment[] = {"PATH=/usr/bin",         "OTHER_FQDN=x.local",
                                     "STRAIT_FIRST_EPP=x",    "STRAIT_BANANA=1",
                                     "STRAIT_NO_EQUALS_SIGN", nullptr};
  config cfg;
  cfg.load_environment("STRAIT_", environment);
  ASSERT_EQ(cfg.problems().size(), 2U) << cfg.problems_text();
  EXPECT_EQ(cfg.problems()[0].to_string(),
            "environment: STRAIT_FIRST_EPP: no key has this name, ignored; did you mean "
            "'STRAIT_FIRST_EP'?");
  EXPECT_EQ(cfg.problems()[1].key, "STRAIT_BANANA");
  EXPECT_EQ(cfg.problems()[1].level, severity::warning);
  EXPECT_EQ(cfg.get_string("fqdn"), "localhost");
}

TEST(ConfigEnvironment, BadValueNamesTheVariable) {
  const char* const environment[] = {"STRAIT_SERVER_PORT=65536", nullptr};
  config cfg;
  cfg.load_environment("STRAIT_", environment);
  ASSERT_EQ(cfg.problems().size(), 1U);
  EXPECT_EQ(cfg.problems().front().to_string(),
            "environment: STRAIT_SERVER_PORT: '65536' is out of range; expected an integer from "
            "0 to 65535");
  EXPECT_TRUE(cfg.has_errors());
}

TEST(ConfigEnvironment, ReadsTheProcessEnvironmentByDefault) {
  ASSERT_EQ(::setenv("STRAITCONFIGTEST_RPC_THREADS", "3", 1), 0);
  config cfg;
  cfg.load_environment("STRAITCONFIGTEST_");
  ::unsetenv("STRAITCONFIGTEST_RPC_THREADS");
  EXPECT_EQ(cfg.get_int("rpcThreads"), 3);
  EXPECT_EQ(cfg.origin_of("rpcThreads"), "environment STRAITCONFIGTEST_RPC_THREADS");
}

TEST(ConfigCommandLine, AcceptsKeyEqualsValueOrKeyAndValue) {
  struct cli_case {
    std::string key;
    std::string value;
    std::string name;
    std::string expected;
  };
  const std::vector<cli_case> cases = {
      {"serverPort=7000", "", "serverPort", "7000"},
      {"serverPort", "7000", "serverPort", "7000"},
      {"ENABLETLS=yes", "", "enableTLS", "1"},
      {"tlsCaPath=/a b", "", "tlsCaPath", "/a b"},
      {"firstEp=[::1]:6030", "", "firstEp", "[::1]:6030"},
      {"secondEp=", "", "secondEp", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + " " + c.value);
    config cfg;
    cfg.set_from_command_line(c.key, c.value);
    EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
    EXPECT_EQ(cfg.get_string(c.name), c.expected);
    EXPECT_EQ(cfg.origin_of(c.name), "command line");
  }
}

TEST(ConfigCommandLine, ReportsUnknownKeysMissingValuesAndBadValuesAsErrors) {
  struct cli_problem_case {
    std::string key;
    std::string value;
    std::string text;
  };
  const std::vector<cli_problem_case> cases = {
      {"serverPrt=7000", "", "command line: serverPrt: unknown key; did you mean 'serverPort'?"},
      {"serverPort", "", "command line: serverPort: the key has no value; write serverPort=VALUE"},
      {"serverPort=abc", "",
       "command line: serverPort: 'abc' is not an integer; expected an integer from 0 to 65535"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    config cfg;
    cfg.set_from_command_line(c.key, c.value);
    ASSERT_EQ(cfg.problems().size(), 1U);
    EXPECT_EQ(cfg.problems().front().to_string(), c.text);
    EXPECT_TRUE(cfg.has_errors());
  }
}

// ---------------------------------------------------------------------------------------------
// Run-time changes

TEST(ConfigSet, ChangesAnyKeyBeforeFreezeAndOnlyDynamicKeysAfter) {
  struct set_case {
    std::string key;
    std::string value;
    bool frozen;
    std::string refusal;  // empty when the change is accepted
  };
  const std::vector<set_case> cases = {
      {"enableTLS", "1", false, ""},
      {"serverPort", "7000", false, ""},
      {"callTimeoutMs", "100", true, ""},
      {"CONNECTTIMEOUTMS", "100", true, ""},
      {"shutdownTimeoutMs", "0", true, ""},
      {"enableTLS", "1", true,
       "enableTLS cannot change at run time; change it in the configuration and restart"},
      {"TLSCAPATH", "/ca.pem", true,
       "tlsCaPath cannot change at run time; change it in the configuration and restart"},
      {"serverPort", "7000", true,
       "serverPort cannot change at run time; change it in the configuration and restart"},
      {"maxMessageSize", "2048", true,
       "maxMessageSize cannot change at run time; change it in the configuration and restart"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + (c.frozen ? " after freeze" : " before freeze"));
    config cfg;
    if (c.frozen) cfg.freeze();
    const std::string before = cfg.get_string(c.key);
    const auto changed = cfg.set(c.key, c.value);
    if (c.refusal.empty()) {
      ASSERT_TRUE(changed.ok()) << changed.message();
      EXPECT_EQ(cfg.get_string(c.key), c.value);
      EXPECT_EQ(cfg.source_of(c.key), value_source::api);
    } else {
      ASSERT_FALSE(changed.ok());
      EXPECT_EQ(changed.message(), c.refusal);
      EXPECT_EQ(cfg.get_string(c.key), before);
    }
  }
}

TEST(ConfigSet, RefusesBadValuesAndUnknownKeysWithAReason) {
  struct refusal_case {
    std::string key;
    std::string value;
    std::string message;
  };
  const std::vector<refusal_case> cases = {
      {"callTimeoutMs", "0",
       "callTimeoutMs: '0' is out of range; expected an integer from 1 to 86400000"},
      {"enableTLS", "enabled", "enableTLS: 'enabled' is not a boolean"},
      {"firstEp", "[::1", "firstEp: '[::1' is not an endpoint"},
      {"callTimeoutM", "1", "unknown key 'callTimeoutM'; did you mean 'callTimeoutMs'?"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    config cfg;
    const auto changed = cfg.set(c.key, c.value);
    ASSERT_FALSE(changed.ok());
    EXPECT_NE(changed.message().find(c.message), std::string::npos) << changed.message();
    EXPECT_TRUE(cfg.problems().empty());
  }
}

TEST(ConfigSet, SaysWhetherTheValueChanged) {
  config cfg;
  cfg.freeze();
  EXPECT_TRUE(cfg.frozen());
  EXPECT_TRUE(cfg.set("callTimeoutMs", "1000").value());
  EXPECT_FALSE(cfg.set("callTimeoutMs", "1000").value());
  EXPECT_FALSE(cfg.set("callTimeoutMs", "01000").value());
  EXPECT_TRUE(cfg.set("callTimeoutMs", "2000").value());
  EXPECT_EQ(cfg.get_int("callTimeoutMs"), 2000);
}

// ---------------------------------------------------------------------------------------------
// Problems and strict mode

TEST(ConfigStrict, TurnsWarningsIntoErrors) {
  struct strict_case {
    std::string text;
    bool strict;
    bool has_errors;
  };
  const std::vector<strict_case> cases = {
      {"fqdn node1.local", false, false}, {"fqdn node1.local", true, false},
      {"banana 1", false, false},         {"banana 1", true, true},
      {"fqdn a\nfqdn b", false, false},   {"fqdn a\nfqdn b", true, true},
      {"serverPort 65536", false, true},  {"serverPort 65536", true, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text + (c.strict ? " (strict)" : ""));
    config cfg;
    cfg.set_strict(c.strict);
    cfg.load_text(c.text, "taos.cfg");
    EXPECT_EQ(cfg.has_errors(), c.has_errors) << cfg.problems_text();
  }
}

TEST(ConfigStrict, ProblemsTextMarksWarningsAsErrors) {
  config cfg;
  cfg.load_text("banana 1\nserverPort 65536\n", "taos.cfg");
  EXPECT_EQ(cfg.problems_text(),
            "warning: taos.cfg:1: banana: unknown key, ignored\n"
            "error: taos.cfg:2: serverPort: '65536' is out of range; expected an integer from 0 "
            "to 65535\n");
  EXPECT_FALSE(cfg.strict());
  cfg.set_strict(true);
  EXPECT_TRUE(cfg.strict());
  EXPECT_EQ(cfg.problems_text().rfind("error: taos.cfg:1: banana", 0), 0U);
}

TEST(ConfigProblem, FormatsOriginLineAndKey) {
  struct format_case {
    config_problem problem;
    std::string text;
  };
  const std::vector<format_case> cases = {
      {{severity::error, "/etc/taos/taos.cfg", 12, "firstEp", "bad"},
       "/etc/taos/taos.cfg:12: firstEp: bad"},
      {{severity::warning, "environment", 0, "STRAIT_X", "odd"}, "environment: STRAIT_X: odd"},
      {{severity::error, "taos.cfg", 0, "", "not found"}, "taos.cfg: not found"},
      {{severity::error, "taos.cfg", 3, "", "junk"}, "taos.cfg:3: junk"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(c.problem.to_string(), c.text);
  }
}

// Later stages locate their problems with problem_about(); each row sets serverPort from one
// source and expects the problem where the value came from, as the parser would write it.
TEST(ConfigProblem, ProblemAboutAKeyIsLocatedWhereItsValueCameFrom) {
  struct about_case {
    std::string source;
    std::string text;
  };
  const std::vector<about_case> cases = {
      {"default", "default: serverPort: odd"},
      {"file", "taos.cfg:2: serverPort: odd"},
      {"environment", "environment STRAIT_SERVER_PORT: serverPort: odd"},
      {"command line", "command line: serverPort: odd"},
      {"api", "api: serverPort: odd"},
  };
  const char* const environment[] = {"STRAIT_SERVER_PORT=7002", nullptr};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.source);
    config cfg;
    if (c.source == "file") cfg.load_text("fqdn node1.local\nserverPort 7001\n", "taos.cfg");
    if (c.source == "environment") cfg.load_environment("STRAIT_", environment);
    if (c.source == "command line") cfg.set_from_command_line("serverPort", "7003");
    if (c.source == "api") {
      ASSERT_TRUE(cfg.set("serverPort", "7004").ok());
    }
    const config_problem problem = cfg.problem_about("SERVERPORT", severity::warning, "odd");
    EXPECT_EQ(problem.level, severity::warning);
    EXPECT_EQ(problem.to_string(), c.text);
  }
}

TEST(ConfigProblem, LaterStagesAddTheirOwnProblems) {
  config cfg;
  cfg.add_problem({severity::error, "tls", 0, "tlsCaPath", "the file does not exist"});
  EXPECT_TRUE(cfg.has_errors());
  EXPECT_EQ(cfg.problems_text(), "error: tls: tlsCaPath: the file does not exist\n");
}

// ---------------------------------------------------------------------------------------------
// show variables

std::vector<std::string> names_of(const std::vector<variable_row>& rows) {
  std::vector<std::string> names;
  for (const auto& row : rows)
    names.push_back(row.name);
  return names;
}

TEST(ConfigShowVariables, FiltersWithLikeInRegistryOrder) {
  struct show_case {
    std::string pattern;
    std::vector<std::string> names;
  };
  const std::vector<std::string> tls = {"enableTLS",        "tlsCaPath",      "tlsSvrCertPath",
                                        "tlsSvrKeyPath",    "tlsCliCertPath", "tlsCliKeyPath",
                                        "tlsVerifyPeerName"};
  const std::vector<show_case> cases = {
      {"%tls%", tls},
      {"%TLS%", tls},
      {"fqdn", {"fqdn"}},
      {"serverP_rt", {"serverPort"}},
      {"%Ep", {"firstEp", "secondEp"}},
      {"%ipv6%", {"enableIPv6", "serverIPv6", "ipv6Only"}},
      {"max%Size", {"maxMessageSize"}},
      {"%\\%%", {}},
      {"server\\_port", {}},
      {"nothing%", {}},
  };
  const config cfg;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pattern);
    EXPECT_EQ(names_of(cfg.show_variables(c.pattern)), c.names);
  }
  EXPECT_EQ(cfg.show_variables().size(), builtin_table().size());
}

TEST(ConfigShowVariables, RowsCarryValueScopeAndSource) {
  const char* const environment[] = {"STRAIT_TLS_CA_PATH=/etc/strait/ca.pem", nullptr};
  config cfg;
  cfg.load_text("enableTLS yes\n", "/etc/taos/taos.cfg");
  cfg.load_environment("STRAIT_", environment);
  const auto rows = cfg.show_variables("%tls%");
  ASSERT_GE(rows.size(), 3U);
  EXPECT_EQ(rows[0].name, "enableTLS");
  EXPECT_EQ(rows[0].value, "1");
  EXPECT_EQ(rows[0].scope, "both");
  EXPECT_EQ(rows[0].source, "file /etc/taos/taos.cfg:1");
  EXPECT_EQ(rows[1].value, "/etc/strait/ca.pem");
  EXPECT_EQ(rows[1].source, "environment STRAIT_TLS_CA_PATH");
  EXPECT_EQ(rows[2].name, "tlsSvrCertPath");
  EXPECT_EQ(rows[2].scope, "server");
  EXPECT_EQ(rows[2].source, "default");
}

// ---------------------------------------------------------------------------------------------
// Keys of the embedder

param_registry registry_with_embedder_keys() {
  auto registry = param_registry::with_builtin_keys();
  param_spec depth = integer_spec("appQueueDepth", "10", 1, 100);
  depth.scope = param_scope::server;
  depth.dynamic = true;
  depth.description = "Requests the application queues.";
  EXPECT_TRUE(registry.add(depth).ok());
  EXPECT_TRUE(registry.add(typed_spec("app_log_dir", param_type::path, "/var/log/app")).ok());
  EXPECT_TRUE(
      registry
          .add(typed_spec("appMode", param_type::enumeration, "safe", {"fast", "safe", "paranoid"}))
          .ok());
  return registry;
}

TEST(ConfigEmbedder, RegisteredKeyIsLoadedCheckedShownAndChanged) {
  const char* const environment[] = {"STRAIT_APP_MODE=FAST", nullptr};
  config cfg(registry_with_embedder_keys());
  cfg.load_text("appQueueDepth 20\nappQueueDept 30\nappQueueDepth 0\n", "app.cfg");
  cfg.load_environment("STRAIT_", environment);

  EXPECT_EQ(cfg.get_int("appQueueDepth"), 20);
  EXPECT_EQ(cfg.get_string("appMode"), "fast");
  ASSERT_EQ(cfg.problems().size(), 2U) << cfg.problems_text();
  EXPECT_NE(cfg.problems()[0].message.find("did you mean 'appQueueDepth'?"), std::string::npos);
  EXPECT_NE(cfg.problems()[1].message.find("expected an integer from 1 to 100"), std::string::npos);

  EXPECT_EQ(names_of(cfg.show_variables("app%")),
            (std::vector<std::string>{"appQueueDepth", "app_log_dir", "appMode"}));
  EXPECT_EQ(names_of(cfg.show_variables("app\\_%")), (std::vector<std::string>{"app_log_dir"}));

  cfg.freeze();
  EXPECT_TRUE(cfg.set("appQueueDepth", "50").ok());
  const auto refused = cfg.set("appMode", "paranoia");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("cannot change at run time"), std::string::npos);
}

TEST(ConfigEmbedder, EnumerationAcceptsOnlyItsChoices) {
  config cfg(registry_with_embedder_keys());
  EXPECT_EQ(cfg.get_string("appMode"), "safe");
  ASSERT_TRUE(cfg.set("appMode", "PARANOID").ok());
  EXPECT_EQ(cfg.get_string("appMode"), "paranoid");
  const auto refused = cfg.set("appMode", "slow");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(),
            "appMode: 'slow' is not accepted; expected one of: fast, safe, paranoid");
}

// ---------------------------------------------------------------------------------------------
// Documentation

TEST(RegistryMarkdown, HasOneRowPerKeyWithItsEnvironmentVariable) {
  const auto registry = param_registry::with_builtin_keys();
  const std::string table = registry_markdown(registry);
  std::istringstream lines(table);
  std::size_t rows = 0;
  for (std::string line; std::getline(lines, line);)
    rows += line.starts_with("| `") ? 1 : 0;
  EXPECT_EQ(rows, registry.all().size());
  EXPECT_NE(table.find("| `firstEp` | endpoint | *(empty)* |"), std::string::npos);
  EXPECT_NE(table.find("| `serverPort` | integer | `6030` | an integer from 0 to 65535 | both | "
                       "no | `STRAIT_SERVER_PORT` |"),
            std::string::npos);
  EXPECT_NE(table.find("| both | yes | `STRAIT_CALL_TIMEOUT_MS` |"), std::string::npos);
}

TEST(RegistryMarkdown, EscapesTableSeparatorsInDescriptions) {
  param_registry registry;
  param_spec spec = typed_spec("pipeKey", param_type::string, "a|b");
  spec.description = "one | two\nthree";
  ASSERT_TRUE(registry.add(spec).ok());
  const std::string table = registry_markdown(registry);
  EXPECT_NE(table.find("`a\\|b`"), std::string::npos) << table;
  EXPECT_NE(table.find("one \\| two three |"), std::string::npos) << table;
}

std::optional<std::string> read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The table in docs/configuration.md is generated from the registry; this test keeps the two
// from drifting apart.
TEST(ConfigDocs, GeneratedTableMatchesTheRegistry) {
  const std::string generated = registry_markdown(param_registry::with_builtin_keys());
  const std::string begin_marker = generated.substr(0, generated.find('\n') + 1);
  const std::string end_marker = generated.substr(generated.rfind('\n', generated.size() - 2) + 1);

  const auto document = read_whole_file(STRAIT_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(document.has_value()) << "docs/configuration.md is missing";
  const std::size_t begin = document->find(begin_marker);
  const std::size_t end = document->find(end_marker, begin == std::string::npos ? 0 : begin);
  ASSERT_NE(begin, std::string::npos) << "docs/configuration.md lacks the line " << begin_marker;
  ASSERT_NE(end, std::string::npos) << "docs/configuration.md lacks the line " << end_marker;

  EXPECT_EQ(document->substr(begin, end + end_marker.size() - begin), generated)
      << "docs/configuration.md does not match the parameter registry. Regenerate it:\n"
         "  ninja -C build/dev strait-config-doc &&\n"
         "  build/dev/tools/strait-config-doc docs/configuration.md > /tmp/configuration.md &&\n"
         "  mv /tmp/configuration.md docs/configuration.md";
}

// The example of docs/configuration.md under "Problems" shows what loading such a file and
// environment reports; each line the library prints must appear in it as it is.
TEST(ConfigDocs, ProblemsExampleIsWhatTheLibrarySays) {
  const char* const environment[] = {"STRAIT_ENABLE_TLS=maybe", nullptr};
  config cfg;
  cfg.load_text(
      "# node 1\n"
      "fqdn node1.example.com\n"
      "\n"
      "serverPort 70000\n"
      "\n"
      "\n"
      "firtEp node1.example.com:6030\n"
      "\n"
      "fqdn node1.example.com\n",
      "/etc/taos/taos.cfg");
  cfg.load_environment("STRAIT_", environment);
  ASSERT_EQ(cfg.problems().size(), 4U) << cfg.problems_text();

  const auto document = read_whole_file(STRAIT_SOURCE_DIR "/docs/configuration.md");
  ASSERT_TRUE(document.has_value()) << "docs/configuration.md is missing";
  std::istringstream lines(cfg.problems_text());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_NE(document->find("\n" + line + "\n"), std::string::npos)
        << "docs/configuration.md lacks the line\n"
        << line;
  }
}

}  // namespace
}  // namespace strait
