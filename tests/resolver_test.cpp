// SPDX-License-Identifier: Apache-2.0
// Only loopback names and literals are resolved for real here; every other answer comes from
// an injected lookup, so these tests send nothing to any name server.
#include <strait/config.hpp>
#include <strait/resolver.hpp>

#include "../src/resolver_internal.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <net/if.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace strait {
namespace {

using tcp = asio::ip::tcp;
using address_list = std::vector<tcp::endpoint>;
using std::chrono::milliseconds;

tcp::endpoint at(const std::string& address, std::uint16_t port = 6030) {
  return {asio::ip::make_address(address), port};
}

std::string describe(const address_list& list) {
  std::ostringstream out;
  for (const auto& address : list)
    out << address << " ";
  return out.str();
}

endpoint parsed(const std::string& text) {
  auto e = endpoint::parse(text);
  EXPECT_TRUE(e.ok()) << e.message();
  return e.ok() ? e.value() : endpoint{};
}

// Runs one resolution to completion on a fresh io_context, with the system's lookup or an
// injected one. The io_context runs until every operation has finished, late answers included.
result<address_list> resolve_now(const endpoint& target, family_policy policy,
                                 milliseconds deadline, detail::lookup_function lookup = {}) {
  asio::io_context io;
  std::optional<result<address_list>> outcome;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        if (lookup)
          outcome.emplace(co_await detail::resolve_with(target, policy, deadline, lookup));
        else
          outcome.emplace(co_await resolve(target, policy, deadline));
      },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  io.run();
  if (!outcome) throw std::logic_error("the resolution never completed");
  return std::move(*outcome);
}

// An injected lookup that answers with `answer` after `delay`, and remembers what it was asked.
struct scripted_lookup {
  detail::lookup_answer answer;
  milliseconds delay{0};
  std::shared_ptr<std::vector<std::string>> asked = std::make_shared<std::vector<std::string>>();

  void operator()(const asio::any_io_executor& executor, const std::string& host,
                  const std::string& service, family_policy policy,
                  detail::lookup_done done) const {
    asked->push_back(host + " " + service +
                     (policy == family_policy::ipv4_only ? " ipv4_only" : " dual_stack"));
    auto timer = std::make_shared<asio::steady_timer>(executor, delay);
    timer->async_wait([timer, answer = answer, done = std::move(done)](auto) { done(answer); });
  }
};

// ---- order_for_connect ---------------------------------------------------------------------

TEST(OrderForConnect, InterleavesFamiliesKeepingSystemOrderWithin) {
  struct order_case {
    std::string name;
    family_policy policy;
    address_list in;
    address_list out;
  };
  const auto v6a = at("2001:db8::a"), v6b = at("2001:db8::b"), v6c = at("2001:db8::c");
  const auto v4a = at("192.0.2.1"), v4b = at("192.0.2.2");
  const std::vector<order_case> cases = {
      {"IPv4 first from the system, IPv6 still first out",
       family_policy::dual_stack,
       {v4a, v4b, v6a, v6b},
       {v6a, v4a, v6b, v4b}},
      {"more IPv6 than IPv4: the rest follows in order",
       family_policy::dual_stack,
       {v6a, v6b, v6c, v4a},
       {v6a, v4a, v6b, v6c}},
      {"more IPv4 than IPv6", family_policy::dual_stack, {v4b, v4a, v6c}, {v6c, v4b, v4a}},
      {"one family only keeps its order", family_policy::dual_stack, {v4b, v4a}, {v4b, v4a}},
      {"duplicates removed, first place kept",
       family_policy::dual_stack,
       {v4a, v6b, v4a, v6a, v6b},
       {v6b, v4a, v6a}},
      {"same address on two ports is two endpoints",
       family_policy::dual_stack,
       {at("192.0.2.1", 1), at("192.0.2.1", 2)},
       {at("192.0.2.1", 1), at("192.0.2.1", 2)}},
      {"IPv4 only drops IPv6", family_policy::ipv4_only, {v6a, v4a, v6b, v4b}, {v4a, v4b}},
      {"IPv4 only with IPv6 alone leaves nothing", family_policy::ipv4_only, {v6a, v6b}, {}},
      {"IPv4 only de-duplicates too", family_policy::ipv4_only, {v4a, v4a, v4b}, {v4a, v4b}},
      {"nothing in, nothing out", family_policy::dual_stack, {}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto ordered = order_for_connect(c.in, c.policy);
    EXPECT_EQ(ordered, c.out) << describe(ordered);
  }
}

// ---- configuration -------------------------------------------------------------------------

TEST(FamilyPolicy, FollowsEnableIpv6) {
  config dual;
  EXPECT_EQ(family_policy_from(dual), family_policy::dual_stack);

  config v4;
  ASSERT_TRUE(v4.set("enableIPv6", "0").ok());
  EXPECT_EQ(family_policy_from(v4), family_policy::ipv4_only);
}

std::vector<config_problem> problems_for(const config& cfg, const std::string& key) {
  std::vector<config_problem> found;
  for (const auto& problem : cfg.problems())
    if (problem.key == key) found.push_back(problem);
  return found;
}

struct family_case {
  std::string key;
  std::string value;
  bool is_ipv6;
};

const std::vector<family_case>& family_cases() {
  static const std::vector<family_case> cases = {
      {"firstEp", "[2001:db8::1]:6030", true}, {"firstEp", "2001:db8::1", true},
      {"secondEp", "[::1]:6030", true},        {"fqdn", "::1", true},
      {"fqdn", "fe80::1%eth0", true},          {"serverIPv6", "::", true},
      {"serverIPv6", "2001:db8::1", true},     {"firstEp", "db1.example:6030", false},
      {"secondEp", "127.0.0.1:6030", false},   {"fqdn", "db1.example", false},
  };
  return cases;
}

TEST(CheckFamilyPolicy, ReportsIpv6LiteralUnderIpv4Only) {
  for (const auto& c : family_cases()) {
    SCOPED_TRACE(c.key + " " + c.value);
    config cfg;
    cfg.load_text("enableIPv6 0\n" + c.key + " " + c.value + "\n", "taos.cfg");
    ASSERT_TRUE(problems_for(cfg, c.key).empty()) << cfg.problems_text();

    check_family_policy(cfg);
    const auto found = problems_for(cfg, c.key);
    if (!c.is_ipv6) {
      EXPECT_TRUE(found.empty()) << cfg.problems_text();
      continue;
    }
    ASSERT_EQ(found.size(), 1u) << cfg.problems_text();
    EXPECT_EQ(found[0].level, config_problem::severity::error);
    EXPECT_EQ(found[0].to_string().rfind("taos.cfg:2: " + c.key + ": ", 0), 0u)
        << found[0].to_string();
    EXPECT_EQ(found[0].message, "'" + c.value +
                                    "' is an IPv6 address but enableIPv6 is 0; set enableIPv6 1 "
                                    "to use IPv6");
    EXPECT_TRUE(cfg.has_errors());
  }
}

TEST(CheckFamilyPolicy, AcceptsIpv6LiteralUnderDualStack) {
  for (const auto& c : family_cases()) {
    SCOPED_TRACE(c.key + " " + c.value);
    config cfg;
    cfg.load_text(c.key + " " + c.value + "\n", "taos.cfg");
    const auto before = cfg.problems().size();
    check_family_policy(cfg);
    EXPECT_EQ(cfg.problems().size(), before) << cfg.problems_text();
  }
}

TEST(CheckFamilyPolicy, IgnoresBuiltInServerIpv6UnderIpv4Only) {
  config cfg;
  ASSERT_TRUE(cfg.set("enableIPv6", "0").ok());
  ASSERT_EQ(cfg.get_string("serverIPv6"), "::");
  check_family_policy(cfg);
  EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
}

TEST(ClusterEndpoints, UsesFqdnAndServerPortWhenFirstEpIsEmpty) {
  config cfg;
  cfg.load_text("fqdn db1.example\nserverPort 7000\n", "taos.cfg");
  const auto endpoints = cluster_endpoints(cfg);
  ASSERT_EQ(endpoints.size(), 1u) << cfg.problems_text();
  EXPECT_EQ(endpoints[0].to_string(), "db1.example:7000");
}

TEST(ClusterEndpoints, ListsFirstThenSecondWithServerPortForMissingPorts) {
  struct cluster_case {
    std::string file;
    std::vector<std::string> endpoints;
  };
  const std::vector<cluster_case> cases = {
      {"firstEp db1.example\n", {"db1.example:6030"}},
      {"firstEp db1.example:7100\nserverPort 7000\n", {"db1.example:7100"}},
      {"firstEp db1.example\nserverPort 7000\n", {"db1.example:7000"}},
      {"firstEp [2001:db8::1]:7100\nsecondEp db2.example\n",
       {"[2001:db8::1]:7100", "db2.example:6030"}},
      {"firstEp 2001:db8::1\nsecondEp 192.0.2.7:7200\nfqdn ignored.example\n",
       {"[2001:db8::1]:6030", "192.0.2.7:7200"}},
      {"fqdn db1.example\nsecondEp db2.example\n", {"db1.example:6030", "db2.example:6030"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    config cfg;
    cfg.load_text(c.file, "taos.cfg");
    std::vector<std::string> texts;
    for (const auto& e : cluster_endpoints(cfg))
      texts.push_back(e.to_string());
    EXPECT_EQ(texts, c.endpoints);
    EXPECT_FALSE(cfg.has_errors()) << cfg.problems_text();
  }
}

TEST(ClusterEndpoints, ReportsEndpointWarningsWithTheirKey) {
  config cfg;
  cfg.load_text("secondEp db2.example\n", "taos.cfg");
  ASSERT_TRUE(cfg.set("fqdn", "2001:db8::1:6030").ok());
  const auto endpoints = cluster_endpoints(cfg);
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].to_string(), "[2001:db8::1:6030]:6030");

  const auto found = problems_for(cfg, "fqdn");
  ASSERT_EQ(found.size(), 1u) << cfg.problems_text();
  EXPECT_EQ(found[0].level, config_problem::severity::warning);
  EXPECT_NE(found[0].message.find("write [2001:db8::1]:6030"), std::string::npos);
}

TEST(ClusterEndpoints, ReportsEndpointWarningsOfLoadedValuesOnlyOnce) {
  config cfg;
  cfg.load_text("firstEp 2001:db8::1:6030\n", "taos.cfg");
  ASSERT_EQ(problems_for(cfg, "firstEp").size(), 1u) << cfg.problems_text();
  EXPECT_EQ(cluster_endpoints(cfg).size(), 1u);
  EXPECT_EQ(problems_for(cfg, "firstEp").size(), 1u) << cfg.problems_text();
}

// With serverPort 0 the node picks its port, so an endpoint of another node must carry one;
// fqdn stands for this node, whose port is known once it listens.
TEST(ClusterEndpoints, EndpointWithoutPortIsAnErrorWhenServerPortIsZero) {
  struct port_case {
    std::string file;
    std::string key;  // the key reported, or empty when none is
    int line;         // where it was set, after the line of serverPort
    std::vector<std::string> endpoints;
  };
  const std::vector<port_case> cases = {
      {"firstEp db1.example\n", "firstEp", 2, {}},
      {"firstEp db1.example:7100\nsecondEp [2001:db8::2]\n", "secondEp", 3, {"db1.example:7100"}},
      {"firstEp db1.example:7100\nsecondEp db2.example:7200\n",
       "",
       0,
       {"db1.example:7100", "db2.example:7200"}},
      {"fqdn db1.example\n", "", 0, {"db1.example"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    config cfg;
    cfg.load_text("serverPort 0\n" + c.file, "taos.cfg");
    std::vector<std::string> texts;
    for (const auto& e : cluster_endpoints(cfg))
      texts.push_back(e.to_string());
    EXPECT_EQ(texts, c.endpoints);
    if (c.key.empty()) {
      EXPECT_TRUE(cfg.problems().empty()) << cfg.problems_text();
      continue;
    }
    const auto found = problems_for(cfg, c.key);
    ASSERT_EQ(found.size(), 1u) << cfg.problems_text();
    EXPECT_EQ(found[0].level, config_problem::severity::error);
    EXPECT_EQ(found[0].line, c.line);
    EXPECT_NE(found[0].message.find("has no port, and serverPort is 0"), std::string::npos)
        << found[0].message;
  }
}

// ---- resolve: address literals -------------------------------------------------------------

TEST(Resolve, ReturnsAddressLiteralsAsTheyAre) {
  struct literal_case {
    std::string text;
    family_policy policy;
    tcp::endpoint expected;
  };
  const std::vector<literal_case> cases = {
      {"127.0.0.1:6030", family_policy::dual_stack, at("127.0.0.1")},
      {"127.0.0.1:7000", family_policy::ipv4_only, at("127.0.0.1", 7000)},
      {"[::1]:6030", family_policy::dual_stack, at("::1")},
      {"2001:db8::1", family_policy::dual_stack, at("2001:db8::1", 0)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    scripted_lookup never_asked;
    const auto found = resolve_now(parsed(c.text), c.policy, milliseconds(1000), never_asked);
    ASSERT_TRUE(found.ok()) << found.message();
    EXPECT_EQ(*found, address_list{c.expected}) << describe(*found);
    EXPECT_TRUE(never_asked.asked->empty());
  }
}

TEST(Resolve, RefusesIpv6LiteralUnderIpv4Only) {
  for (const std::string text : {"[::1]:6030", "2001:db8::1", "[fe80::1%lo]:6030"}) {
    SCOPED_TRACE(text);
    const auto found = resolve_now(parsed(text), family_policy::ipv4_only, milliseconds(1000));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.code(), make_error_code(errc::address_family_disabled));
    EXPECT_NE(found.message().find("is an IPv6 address but enableIPv6 is 0; set enableIPv6 1"),
              std::string::npos)
        << found.message();
  }
}

TEST(Resolve, TurnsZoneIntoScopeId) {
  const unsigned loopback = ::if_nametoindex("lo");
  if (loopback == 0) GTEST_SKIP() << "this host has no interface named lo";
  struct zone_case {
    std::string text;
    unsigned scope;
  };
  const std::vector<zone_case> cases = {
      {"[fe80::1%lo]:6030", loopback},
      {"[fe80::1%" + std::to_string(loopback) + "]:6030", loopback},
      {"[fe80::1%7]:6030", 7},  // a number is taken as the index, existing or not
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto found = resolve_now(parsed(c.text), family_policy::dual_stack, milliseconds(1000));
    ASSERT_TRUE(found.ok()) << found.message();
    ASSERT_EQ(found->size(), 1u);
    EXPECT_EQ(found->front().address().to_v6().scope_id(), c.scope);
  }
}

TEST(Resolve, ReportsZoneNamingNoInterface) {
  const auto found = resolve_now(parsed("[fe80::1%nosuchif0]:6030"), family_policy::dual_stack,
                                 milliseconds(1000));
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.code(), make_error_code(errc::resolve_failed));
  EXPECT_NE(found.message().find("no network interface 'nosuchif0'"), std::string::npos)
      << found.message();
}

// ---- resolve: names through the system resolver (loopback only) -----------------------------

TEST(Resolve, FindsLocalhostOnLoopback) {
  for (const auto policy : {family_policy::dual_stack, family_policy::ipv4_only}) {
    SCOPED_TRACE(policy == family_policy::ipv4_only ? "ipv4_only" : "dual_stack");
    const auto found = resolve_now(parsed("localhost:6030"), policy, milliseconds(5000));
    ASSERT_TRUE(found.ok()) << found.message();
    ASSERT_FALSE(found->empty());
    EXPECT_NE(std::find(found->begin(), found->end(), at("127.0.0.1")), found->end())
        << describe(*found);
    for (const auto& address : *found) {
      EXPECT_TRUE(address.address().is_loopback()) << address;
      EXPECT_EQ(address.port(), 6030);
      EXPECT_TRUE(policy == family_policy::dual_stack || address.address().is_v4()) << address;
    }
    EXPECT_EQ(*found, order_for_connect(*found, policy)) << describe(*found);
  }
}

// Every name server of /etc/resolv.conf, so that a test can tell whether a lookup that misses
// /etc/hosts would leave the machine.
std::vector<std::string> name_servers() {
  std::vector<std::string> servers;
  std::ifstream file("/etc/resolv.conf");
  for (std::string line; std::getline(file, line);) {
    std::istringstream words(line);
    std::string keyword, address;
    if (words >> keyword >> address && keyword == "nameserver") servers.push_back(address);
  }
  return servers;
}

bool is_loopback_address(const std::string& text) {
  boost::system::error_code error;
  const auto address = asio::ip::make_address(text, error);
  return !error && address.is_loopback();
}

TEST(Resolve, ReportsNameThatDoesNotExist) {
  // A name under .invalid never exists (RFC 6761), but glibc still asks the configured name
  // servers; run only where they are on loopback.
  const auto servers = name_servers();
  for (const auto& server : servers) {
    if (!is_loopback_address(server))
      GTEST_SKIP() << "the lookup would reach name server " << server << ", which is not loopback";
  }
  const auto found = resolve_now(parsed("no-such-node.invalid:6030"), family_policy::dual_stack,
                                 milliseconds(5000));
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.code(), make_error_code(errc::resolve_failed));
  EXPECT_EQ(found.message().rfind("cannot resolve 'no-such-node.invalid:6030': ", 0), 0u)
      << found.message();
}

// ---- resolve: injected lookups ---------------------------------------------------------------

TEST(Resolve, AsksLookupForTheFamiliesOfThePolicy) {
  scripted_lookup lookup{{{}, {at("192.0.2.1")}}};
  ASSERT_TRUE(
      resolve_now(parsed("db1.example:6030"), family_policy::ipv4_only, milliseconds(1000), lookup)
          .ok());
  ASSERT_TRUE(
      resolve_now(parsed("db1.example"), family_policy::dual_stack, milliseconds(1000), lookup)
          .ok());
  EXPECT_EQ(*lookup.asked,
            (std::vector<std::string>{"db1.example 6030 ipv4_only", "db1.example 0 dual_stack"}));
}

TEST(Resolve, OrdersAndDeduplicatesTheLookupAnswer) {
  const auto v6 = at("2001:db8::1"), v4a = at("192.0.2.1"), v4b = at("192.0.2.2");
  scripted_lookup lookup{{{}, {v4a, v4b, v6, v4a, v6}}};
  const auto dual = resolve_now(parsed("db1.example:6030"), family_policy::dual_stack,
                                milliseconds(1000), lookup);
  ASSERT_TRUE(dual.ok()) << dual.message();
  EXPECT_EQ(*dual, (address_list{v6, v4a, v4b})) << describe(*dual);

  const auto v4_only =
      resolve_now(parsed("db1.example:6030"), family_policy::ipv4_only, milliseconds(1000), lookup);
  ASSERT_TRUE(v4_only.ok()) << v4_only.message();
  EXPECT_EQ(*v4_only, (address_list{v4a, v4b})) << describe(*v4_only);
}

TEST(Resolve, ReportsResolverErrorWithHostAndService) {
  scripted_lookup lookup{{boost::system::error_code(asio::error::host_not_found), {}}};
  const auto found = resolve_now(parsed("db1.example:6030"), family_policy::dual_stack,
                                 milliseconds(1000), lookup);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.code(), make_error_code(errc::resolve_failed));
  EXPECT_EQ(found.message(), "cannot resolve 'db1.example:6030': Host not found (authoritative)");
}

TEST(Resolve, ReportsEmptyAnswerNamingTheFamiliesAsked) {
  struct empty_case {
    family_policy policy;
    address_list answer;
    std::string message;
  };
  const std::vector<empty_case> cases = {
      {family_policy::dual_stack,
       {},
       "cannot resolve 'db1.example:6030': the answer holds no address (asked for IPv6 and "
       "IPv4)"},
      {family_policy::ipv4_only,
       {at("2001:db8::1")},
       "cannot resolve 'db1.example:6030': the answer holds no address (asked for IPv4 only, as "
       "enableIPv6 is 0)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    scripted_lookup lookup{{{}, c.answer}};
    const auto found =
        resolve_now(parsed("db1.example:6030"), c.policy, milliseconds(1000), lookup);
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.code(), make_error_code(errc::resolve_failed));
    EXPECT_EQ(found.message(), c.message);
  }
}

TEST(Resolve, FailsAtDeadlineWhenLookupIsSlowAndDropsTheLateAnswer) {
  scripted_lookup slow{{{}, {at("192.0.2.1")}}, milliseconds(400)};
  asio::io_context io;
  std::optional<result<address_list>> outcome;
  std::chrono::steady_clock::duration took{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const auto start = std::chrono::steady_clock::now();
        outcome.emplace(co_await detail::resolve_with(
            parsed("db1.example:6030"), family_policy::dual_stack, milliseconds(30), slow));
        took = std::chrono::steady_clock::now() - start;
      },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  const auto start = std::chrono::steady_clock::now();
  io.run();  // returns only after the late answer was delivered and dropped
  const auto ran = std::chrono::steady_clock::now() - start;

  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->ok());
  EXPECT_EQ(outcome->code(), make_error_code(errc::resolve_failed));
  EXPECT_EQ(outcome->message(), "cannot resolve 'db1.example:6030': no answer within 30 ms");
  EXPECT_GE(took, milliseconds(30));
  EXPECT_LT(took, milliseconds(300));
  EXPECT_GE(ran, milliseconds(400));
}

TEST(Resolve, AbandonsPendingLookupWhenExecutionContextIsDestroyed) {
  // The io_context goes away while the lookup and the deadline are both pending: the coroutine
  // and the race are destroyed with it, and nothing completes or leaks (run under ASan).
  scripted_lookup slow{{{}, {at("192.0.2.1")}}, milliseconds(10000)};
  bool completed = false;
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await detail::resolve_with(parsed("db1.example:6030"), family_policy::dual_stack,
                                        milliseconds(5000), slow);
          completed = true;
        },
        [](std::exception_ptr) {});
    io.run_for(milliseconds(20));
  }
  EXPECT_FALSE(completed);
  EXPECT_EQ(slow.asked->size(), 1u);
}

TEST(Resolve, AnswerBeforeDeadlineCancelsTheTimer) {
  scripted_lookup quick{{{}, {at("192.0.2.1")}}, milliseconds(0)};
  const auto start = std::chrono::steady_clock::now();
  const auto found = resolve_now(parsed("db1.example:6030"), family_policy::dual_stack,
                                 milliseconds(10000), quick);
  ASSERT_TRUE(found.ok()) << found.message();
  // io_context::run returned long before the 10 s deadline: nothing was left waiting on it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
}

}  // namespace
}  // namespace strait
