// SPDX-License-Identifier: Apache-2.0
// TLS links end to end: every rejection cause at connection time, plain and TLS sides that
// meet, the handshake deadline, and interoperability with TLS implementations that share no
// code with strait (openssl s_client and s_server, gnutls-cli) plus a protocol scan (sslscan).
//
// Every node listens on [::1] alone: strait listens on IPv4 only through the wildcard address,
// which would open the node to every interface of the host. Tests that must dial 127.0.0.1
// go through a relay on 127.0.0.1 (tls/loopback_relay.hpp), and openssl s_server listens on
// 127.0.0.1 itself. Ports are ephemeral, every wait is bounded, and every program started here
// is killed and reaped at the end.
#include <strait/client.hpp>
#include <strait/config.hpp>
#include <strait/error.hpp>
#include <strait/io_threads.hpp>
#include <strait/log.hpp>
#include <strait/server.hpp>
#include <strait/tls.hpp>

#include "tls/child_process.hpp"
#include "tls/loopback_relay.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace strait {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using test_support::child_process;
using test_support::find_program;

constexpr std::uint32_t echo_message = 1;

// --- certificates and configuration ---------------------------------------------------------

std::string cert(std::string_view name) {
  return std::string(STRAIT_TEST_CERTS) + "/" + std::string(name);
}

// The TLS files of one side, as scripts/make-test-certs.sh names them.
struct tls_files {
  std::string ca = cert("ca.crt");
  std::string server_cert = cert("server.crt");
  std::string server_key = cert("server.key");
  std::string client_cert = cert("client.crt");
  std::string client_key = cert("client.key");
};

// Certificates made with the seed's own commands: CN only, no subjectAltName.
tls_files seed_files() {
  return {cert("seed/ca.crt"), cert("seed/server.crt"), cert("seed/server.key"),
          cert("seed/client.crt"), cert("seed/client.key")};
}

// A node whose server certificate is `name`.crt from the test CA (for names checks).
tls_files node_presenting(std::string_view name) {
  tls_files files;
  files.server_cert = cert(std::string(name) + ".crt");
  files.server_key = cert(std::string(name) + ".key");
  return files;
}

using settings = std::vector<std::pair<std::string, std::string>>;

void set_keys(config& cfg, const settings& keys) {
  for (const auto& [key, value] : keys) {
    const auto changed = cfg.set(key, value);
    EXPECT_TRUE(changed.ok()) << key << " " << value << ": " << changed.message();
  }
}

// The TLS keys a node or a client sets for `files`; without files, enableTLS 0 (plain).
settings tls_settings(const std::optional<tls_files>& files, node_role role) {
  if (!files) return {{"enableTLS", "0"}};
  settings keys{{"enableTLS", "1"},
                {"tlsCaPath", files->ca},
                {"tlsCliCertPath", files->client_cert},
                {"tlsCliKeyPath", files->client_key}};
  if (role == node_role::node) {
    keys.emplace_back("tlsSvrCertPath", files->server_cert);
    keys.emplace_back("tlsSvrKeyPath", files->server_key);
  }
  return keys;
}

tls_config checked_tls(config& cfg, node_role role) {
  auto tls = tls_config::from_config(cfg, role);
  EXPECT_FALSE(cfg.has_errors()) << cfg.problems_text();
  return tls;
}

// A node on [::1] only, at an ephemeral port, configured as an embedder does it.
server_options node_options(const std::optional<tls_files>& files, const settings& extra = {}) {
  config cfg;
  set_keys(cfg, {{"serverIPv6", "::1"}, {"ipv6Only", "1"}, {"serverPort", "0"}});
  set_keys(cfg, tls_settings(files, node_role::node));
  set_keys(cfg, extra);
  return server_options::from_config(cfg, checked_tls(cfg, node_role::node));
}

// A client of `first_ep` with short deadlines, so that a test that goes wrong ends soon.
client_options client_options_for(const endpoint& first_ep, const std::optional<tls_files>& files,
                                  const settings& extra = {}) {
  config cfg;
  set_keys(cfg, {{"firstEp", first_ep.to_string()},
                 {"connectTimeoutMs", "2000"},
                 {"handshakeTimeoutMs", "2000"},
                 {"callTimeoutMs", "5000"}});
  set_keys(cfg, tls_settings(files, node_role::client));
  set_keys(cfg, extra);
  return client_options::from_config(cfg, checked_tls(cfg, node_role::client));
}

endpoint on_loopback(std::uint16_t port) {
  return endpoint::from_address("::1", port);
}

// --- contexts made by hand, for peers that strait's own checks would never let start ------

using context_ptr = std::shared_ptr<asio::ssl::context>;

void load_or_fail(boost::system::error_code ec, const std::string& what) {
  EXPECT_FALSE(ec) << what << ": " << ec.message();
}

// A client context that trusts `ca`, presents `cert_path` (none when empty) and speaks TLS
// up to `max_version`.
context_ptr hand_made_client_context(int max_version, const std::string& ca,
                                     const std::string& cert_path = {},
                                     const std::string& key_path = {}) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(context->native_handle(), max_version);
  boost::system::error_code ec;
  context->load_verify_file(ca, ec);
  load_or_fail(ec, ca);
  context->set_verify_mode(asio::ssl::verify_peer);
  if (cert_path.empty()) return context;
  context->use_certificate_chain_file(cert_path, ec);
  load_or_fail(ec, cert_path);
  context->use_private_key_file(key_path, asio::ssl::context::pem, ec);
  load_or_fail(ec, key_path);
  return context;
}

// A node context that presents `cert_path` and demands a client certificate from `ca`.
context_ptr hand_made_server_context(const std::string& ca, const std::string& cert_path,
                                     const std::string& key_path) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  boost::system::error_code ec;
  context->load_verify_file(ca, ec);
  load_or_fail(ec, ca);
  context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  context->use_certificate_chain_file(cert_path, ec);
  load_or_fail(ec, cert_path);
  context->use_private_key_file(key_path, asio::ssl::context::pem, ec);
  load_or_fail(ec, key_path);
  return context;
}

// The SHA-256 of a certificate file's DER as "AB:CD:...", computed here rather than by strait.
std::string sha256_fingerprint_of(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> x509(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!x509 || X509_digest(x509.get(), EVP_sha256(), digest, &length) != 1) return "unreadable";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    char pair[4];
    std::snprintf(pair, sizeof pair, "%s%02X", i == 0 ? "" : ":", digest[i]);
    text += pair;
  }
  return text;
}

// --- what the tests look at -----------------------------------------------------------------

::testing::AssertionResult has_text(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected \"" << part << "\" in:\n" << text;
}

std::size_t count_of(const std::string& text, std::string_view part) {
  std::size_t count = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++count;
  return count;
}

// strait's log lines as "module: text", for as long as the object lives.
class log_capture {
 public:
  log_capture() {
    set_log_level(log_level::info);
    set_log_sink([this](const log_record& record) {
      std::lock_guard lock(mutex_);
      lines_.push_back(std::string(record.module) + ": " + std::string(record.text));
      changed_.notify_all();
    });
  }
  ~log_capture() { set_log_sink({}); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  // The `nth` line that matches `pattern`, waiting up to three seconds for it; empty when
  // there is none by then.
  std::string wait_for(const std::string& pattern, std::size_t nth = 1) {
    const std::regex wanted(pattern);
    std::unique_lock lock(mutex_);
    std::string found;
    changed_.wait_for(lock, 3s, [&] {
      std::size_t matches = 0;
      for (const auto& line : lines_) {
        if (std::regex_search(line, wanted) && ++matches == nth) found = line;
      }
      return !found.empty();
    });
    return found;
  }

  std::string all() {
    std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& line : lines_)
      text += line + '\n';
    return text;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

struct call_outcome {
  bool finished = false;
  std::error_code ec;
  reply answer;
  milliseconds took{};
};

std::ostream& operator<<(std::ostream& out, const call_outcome& outcome) {
  if (!outcome.finished) return out << "the call did not end";
  return out << "error " << outcome.ec.message() << " (" << outcome.ec.category().name()
             << "), detail: " << outcome.answer.detail << ", after " << outcome.took.count()
             << " ms";
}

// One call, waited for at most ten seconds (every client here has a shorter call deadline).
call_outcome call_once(client& caller, std::string body = "ping") {
  auto done = std::make_shared<std::promise<call_outcome>>();
  auto future = done->get_future();
  const auto started = std::chrono::steady_clock::now();
  caller.async_call(echo_message, std::move(body), [done, started](std::error_code ec, reply r) {
    const auto took =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
    done->set_value({true, ec, std::move(r), took});
  });
  if (future.wait_for(10s) != std::future_status::ready) return {};
  return future.get();
}

void echo(std::string request, responder answer) {
  answer.reply(std::move(request));
}

// --- in-process nodes and clients ----------------------------------------------------------

class TlsLink : public ::testing::Test {
 protected:
  server& start_node(server_options options, request_handler handler = echo) {
    auto node = std::make_unique<server>(threads_.executor(), std::move(options));
    node->handle(echo_message, std::move(handler));
    const auto started = node->start();
    EXPECT_TRUE(started.ok()) << started.message();
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  call_outcome call(client_options options, std::string body = "ping") {
    clients_.push_back(std::make_unique<client>(threads_.executor(), std::move(options)));
    return call_once(*clients_.back(), std::move(body));
  }

  // Declared first, so that it outlives every thread that may write to it.
  log_capture log_;
  io_threads threads_{2};
  std::vector<std::unique_ptr<server>> nodes_;
  std::vector<std::unique_ptr<client>> clients_;
};

TEST_F(TlsLink, MutualTlsCallSucceedsAndTheHandlerSeesTheClientIdentity) {
  auto seen = std::make_shared<std::promise<call_context>>();
  auto& node = start_node(node_options(tls_files{}), [seen](std::string request, responder r) {
    seen->set_value(r.context());
    r.reply(std::move(request));
  });

  const auto outcome = call(client_options_for(on_loopback(node.port()), tls_files{}), "hello");
  ASSERT_TRUE(outcome.finished && !outcome.ec) << outcome;
  EXPECT_EQ(outcome.answer.body, "hello");

  auto context = seen->get_future();
  ASSERT_EQ(context.wait_for(1s), std::future_status::ready);
  const auto handled = context.get();
  EXPECT_TRUE(handled.tls);
  EXPECT_EQ(handled.peer.host(), "::1");
  EXPECT_EQ(handled.identity.subject, "CN=strait-client");
  EXPECT_EQ(handled.identity.sha256_fingerprint, sha256_fingerprint_of(cert("client.crt")));
  EXPECT_NE(log_.wait_for("accepted \\(mutual TLS, CN=strait-client sha256="), "") << log_.all();
}

// Under TLS 1.3 the client finishes its side of the handshake before the node has judged its
// certificate, so the refusal arrives as an alert on the first read; under TLS 1.2 it ends
// the handshake itself. Both must reach the caller.
struct refusal_case {
  std::string protocol;
  int max_version;
  std::string alert;
};

TEST_F(TlsLink, NodeRefusesAClientCertificateFromAnotherCa) {
  auto& node = start_node(node_options(tls_files{}));
  const std::vector<refusal_case> cases{{"TLS 1.3", TLS1_3_VERSION, "alert unknown ca"},
                                        {"TLS 1.2", TLS1_2_VERSION, "alert unknown ca"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].protocol);
    auto options = client_options_for(on_loopback(node.port()), std::nullopt);
    options.connect.tls =
        hand_made_client_context(cases[i].max_version, cert("ca.crt"), cert("other-ca-signed.crt"),
                                 cert("other-ca-signed.key"));

    const auto outcome = call(options);
    ASSERT_TRUE(outcome.finished && outcome.ec) << outcome;
    EXPECT_TRUE(has_text(outcome.answer.detail, cases[i].alert)) << outcome;
    EXPECT_NE(log_.wait_for("connection from \\[::1\\]:\\d+ refused: TLS handshake .*failed: "
                            "certificate verify failed",
                            i + 1),
              "")
        << log_.all();
  }
}

TEST_F(TlsLink, NodeRefusesAClientWithoutCertificate) {
  auto& node = start_node(node_options(tls_files{}));
  const std::vector<refusal_case> cases{{"TLS 1.3", TLS1_3_VERSION, "alert certificate required"},
                                        {"TLS 1.2", TLS1_2_VERSION, "alert handshake failure"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].protocol);
    auto options = client_options_for(on_loopback(node.port()), std::nullopt);
    options.connect.tls = hand_made_client_context(cases[i].max_version, cert("ca.crt"));

    const auto outcome = call(options);
    ASSERT_TRUE(outcome.finished && outcome.ec) << outcome;
    EXPECT_TRUE(has_text(outcome.answer.detail, cases[i].alert)) << outcome;
    EXPECT_NE(log_.wait_for("refused: .*peer did not return a certificate", i + 1), "")
        << log_.all();
  }
}

// The caller's error code says what happened whatever the protocol: a node that refuses the
// client's certificate is a failed TLS handshake (errc::tls_handshake_failed).
TEST_F(TlsLink, NodeRefusalOfTheClientCertificateIsATlsHandshakeFailureUnderEveryProtocol) {
  auto& node = start_node(node_options(tls_files{}));
  for (const auto& [protocol, max_version] : std::vector<std::pair<std::string, int>>{
           {"TLS 1.2", TLS1_2_VERSION}, {"TLS 1.3", TLS1_3_VERSION}}) {
    SCOPED_TRACE(protocol);
    auto options = client_options_for(on_loopback(node.port()), std::nullopt);
    options.connect.tls = hand_made_client_context(
        max_version, cert("ca.crt"), cert("other-ca-signed.crt"), cert("other-ca-signed.key"));
    const auto outcome = call(options);
    ASSERT_TRUE(outcome.finished) << outcome;
    EXPECT_EQ(outcome.ec, errc::tls_handshake_failed) << outcome;
    EXPECT_NE(outcome.answer.detail.find("the node refused this client's certificate"),
              std::string::npos)
        << outcome;
  }
}

TEST_F(TlsLink, ClientRefusesANodeCertificateFromACaItDoesNotKnow) {
  auto options = node_options(tls_files{});
  options.tls = hand_made_server_context(cert("ca.crt"), cert("other-ca-signed.crt"),
                                         cert("other-ca-signed.key"));
  auto& node = start_node(options);

  const auto outcome = call(client_options_for(on_loopback(node.port()), tls_files{}));
  ASSERT_TRUE(outcome.finished) << outcome;
  EXPECT_EQ(outcome.ec, errc::tls_handshake_failed) << outcome;
  EXPECT_TRUE(has_text(outcome.answer.detail, "unable to get local issuer certificate"));
  EXPECT_TRUE(has_text(outcome.answer.detail, "tlsCaPath must name the CA that signed"));
}

TEST_F(TlsLink, VerifyPeerNameAcceptsTheDialledAddressInSubjectAltName) {
  auto& node = start_node(node_options(tls_files{}));
  test_support::loopback_relay relay(node.port());
  const settings verify{{"tlsVerifyPeerName", "1"}};

  for (const auto& target :
       {endpoint::from_address("127.0.0.1", relay.port()), on_loopback(node.port())}) {
    SCOPED_TRACE("dialling " + target.to_string());
    const auto outcome = call(client_options_for(target, tls_files{}, verify));
    EXPECT_TRUE(outcome.finished && !outcome.ec) << outcome;
  }
}

TEST_F(TlsLink, VerifyPeerNameRefusesANodeCertificateThatDoesNotNameTheDialledAddress) {
  struct name_case {
    std::string label;
    tls_files files;
    std::vector<std::string> expected;
  };
  const std::vector<name_case> cases{
      {"CN=localhost only, as the seed makes it",
       seed_files(),
       {"(CN=localhost) does not name \"127.0.0.1\": it names nothing", "no subjectAltName"}},
      {"other names",
       node_presenting("name-and-ip"),
       {"does not name \"127.0.0.1\": it names DNS:node1.strait.test, IP:127.0.0.2"}},
      {"the address written as a DNS name",
       node_presenting("ip-as-dns"),
       {"it names DNS:127.0.0.1", "only against IP entries"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    auto& node = start_node(node_options(c.files));
    test_support::loopback_relay relay(node.port());
    const auto target = endpoint::from_address("127.0.0.1", relay.port());

    const auto outcome = call(client_options_for(target, c.files, {{"tlsVerifyPeerName", "1"}}));
    ASSERT_TRUE(outcome.finished) << outcome;
    EXPECT_EQ(outcome.ec, errc::tls_handshake_failed) << outcome;
    EXPECT_TRUE(has_text(outcome.answer.detail, "is not who was dialled"));
    for (const auto& part : c.expected)
      EXPECT_TRUE(has_text(outcome.answer.detail, part));
  }
}

TEST_F(TlsLink, PlainClientReachingATlsNodeHearsThatTheNodeRequiresTls) {
  auto& node = start_node(node_options(tls_files{}));

  const auto outcome = call(client_options_for(on_loopback(node.port()), std::nullopt));
  ASSERT_TRUE(outcome.finished) << outcome;
  EXPECT_EQ(outcome.ec, errc::peer_requires_tls) << outcome;
  EXPECT_TRUE(has_text(outcome.answer.detail, "requires TLS"));
  EXPECT_LT(outcome.took, 1000ms);
  EXPECT_NE(log_.wait_for("a plain client from \\[::1\\]:\\d+ reached this TLS node; "
                          "enableTLS differs"),
            "")
      << log_.all();
}

TEST_F(TlsLink, TlsClientReachingAPlainNodeHearsThatTheNodeDoesNotSpeakTls) {
  auto& node = start_node(node_options(std::nullopt));

  const auto outcome = call(client_options_for(on_loopback(node.port()), tls_files{}));
  ASSERT_TRUE(outcome.finished) << outcome;
  EXPECT_EQ(outcome.ec, errc::peer_does_not_speak_tls) << outcome;
  EXPECT_TRUE(has_text(outcome.answer.detail, "does not speak TLS"));
  EXPECT_LT(outcome.took, 1000ms);
  EXPECT_NE(log_.wait_for("a TLS client from \\[::1\\]:\\d+ reached this plain node; "
                          "enableTLS differs"),
            "")
      << log_.all();
}

// A TCP connection to [::1]:port made without strait; -1 on failure.
int raw_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons(port);
  address.sin6_addr = in6addr_loopback;
  if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
    return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// How long the peer took to close `fd` (end of stream or reset), or nullopt within `limit`.
std::optional<milliseconds> time_until_closed(int fd, milliseconds limit) {
  const auto started = std::chrono::steady_clock::now();
  pollfd watched{fd, POLLIN, 0};
  if (::poll(&watched, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
  char byte = 0;
  if (::recv(fd, &byte, 1, 0) > 0) return std::nullopt;  // data, not a close
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
}

TEST_F(TlsLink, NodeClosesAHandshakeThatStallsPastHandshakeTimeoutMs) {
  auto& node = start_node(node_options(tls_files{}, {{"handshakeTimeoutMs", "300"}}));
  const int fd = raw_connect(node.port());
  ASSERT_GE(fd, 0);

  // The first byte of a TLS record of type handshake, and nothing more.
  const unsigned char tls_start = 0x16;
  ASSERT_EQ(::send(fd, &tls_start, 1, MSG_NOSIGNAL), 1);
  const auto closed_after = time_until_closed(fd, 3000ms);
  ::close(fd);

  ASSERT_TRUE(closed_after.has_value()) << "the node kept the stalled connection open";
  EXPECT_GE(*closed_after, 250ms) << "closed before the deadline";
  EXPECT_LT(*closed_after, 1300ms);
  EXPECT_NE(log_.wait_for("TLS handshake with \\[::1\\]:\\d+ did not finish within 300 ms"), "")
      << log_.all();
}

// --- independent TLS implementations --------------------------------------------------------

// CI sets STRAIT_REQUIRE_NETNS=1: there a missing program is a broken machine, not a reason to
// skip.
bool programs_required() {
  const char* value = std::getenv("STRAIT_REQUIRE_NETNS");
  return value != nullptr && std::string_view(value) == "1";
}

// Declares `variable` as the full path of `program`; skips the test when it is missing, or
// fails it where every program is required.
#define STRAIT_NEED_PROGRAM(variable, program, package)                       \
  const std::string variable = find_program(program);                         \
  if (variable.empty()) {                                                     \
    const std::string reason =                                                \
        "install " package " (scripts/setup.sh): " program " is not on PATH"; \
    if (programs_required()) FAIL() << reason;                                \
    GTEST_SKIP() << reason;                                                   \
  }

class TlsInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strait-tls-link.XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    if (straitd_) straitd_->terminate(2000ms);
    children_.clear();
    straitd_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  child_process& spawn(std::vector<std::string> argv, bool hold_stdin = false) {
    const auto name =
        fs::path(argv.front()).filename().string() + "." + std::to_string(children_.size() + 1);
    children_.push_back(std::make_unique<child_process>(child_process::options{
        std::move(argv), dir_ / (name + ".out"), dir_ / (name + ".err"), hold_stdin}));
    return *children_.back();
  }

  // Runs a program to its end (at most 15 s); returns its exit status, -1 when it overran.
  int run(child_process& child) {
    EXPECT_TRUE(child.started()) << child.error();
    const auto status = child.wait_for_exit(15s);
    EXPECT_TRUE(status.has_value()) << "still running after 15 s\n" << child.output();
    return status.value_or(-1);
  }

  // A straitd with mutual TLS on [::1] at an ephemeral port; its port, or 0 after a failure.
  std::uint16_t start_straitd() {
    const fs::path straitd = STRAIT_STRAITD;
    EXPECT_TRUE(fs::exists(straitd)) << "build straitd first: ninja straitd (" << straitd << ")";
    if (!fs::exists(straitd)) return 0;
    write_config(dir_ / "node", node_config());
    straitd_ = std::make_unique<child_process>(
        child_process::options{{straitd.string(), "-c", (dir_ / "node").string()},
                               dir_ / "straitd.out",
                               dir_ / "straitd.err"});
    if (!straitd_->wait_for_output("straitd ready on port", 15s)) {
      ADD_FAILURE() << "straitd did not start\n" << straitd_->output();
      return 0;
    }
    return ready_port(straitd_->stdout_text());
  }

  std::string node_log() const { return straitd_ ? straitd_->stderr_text() : ""; }

  // Waits until the node's log holds more than `before` lines with `part`.
  bool node_logs_another(std::string_view part, std::size_t before) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (count_of(node_log(), part) <= before) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  static std::string node_config() {
    const tls_files files;
    return "fqdn ::1\nserverIPv6 ::1\nipv6Only 1\nserverPort 0\nhandshakeTimeoutMs 2000\n"
           "enableTLS 1\ntlsCaPath " +
           files.ca + "\ntlsSvrCertPath " + files.server_cert + "\ntlsSvrKeyPath " +
           files.server_key + "\ntlsCliCertPath " + files.client_cert + "\ntlsCliKeyPath " +
           files.client_key + "\n";
  }

  static void write_config(const fs::path& directory, const std::string& text) {
    fs::create_directories(directory);
    std::ofstream(directory / "taos.cfg") << text;
  }

  static std::uint16_t ready_port(const std::string& output) {
    std::smatch match;
    if (!std::regex_search(output, match, std::regex("ready on port (\\d+)"))) return 0;
    return static_cast<std::uint16_t>(std::stoi(match[1]));
  }

  fs::path dir_;
  std::unique_ptr<child_process> straitd_;
  std::vector<std::unique_ptr<child_process>> children_;
};

std::string node_address(std::uint16_t port) {
  return "[::1]:" + std::to_string(port);
}

TEST_F(TlsInterop, StraitClientPingsStraitdOverMutualTls) {
  const auto port = start_straitd();
  ASSERT_NE(port, 0);
  const tls_files files;
  write_config(dir_ / "client", "enableTLS 1\ntlsCaPath " + files.ca + "\ntlsCliCertPath " +
                                    files.client_cert + "\ntlsCliKeyPath " + files.client_key +
                                    "\n");

  auto& ping = spawn({STRAIT_CLIENT, "-h", "[::1]", "-P", std::to_string(port), "-c",
                      (dir_ / "client").string(), "-s", "ping"});
  EXPECT_EQ(run(ping), 0) << ping.output();
  EXPECT_TRUE(has_text(ping.stdout_text(), "ping 1 from " + node_address(port)));
  EXPECT_TRUE(has_text(node_log(), "accepted (mutual TLS, CN=strait-client"));
}

TEST_F(TlsInterop, OpensslClientWithACertificateCompletesTheHandshake) {
  STRAIT_NEED_PROGRAM(openssl, "openssl", "openssl");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);
  const tls_files files;

  for (const auto& [version_option, version] :
       std::map<std::string, std::string>{{"-tls1_3", "TLSv1.3"}, {"-tls1_2", "TLSv1.2"}}) {
    SCOPED_TRACE(version);
    const auto refused_before = count_of(node_log(), "refused");
    const auto past_tls_before = count_of(node_log(), "failed set-up");
    auto& s_client = spawn({openssl, "s_client", "-connect", node_address(port), "-cert",
                            files.client_cert, "-key", files.client_key, "-CAfile", files.ca,
                            "-verify_return_error", "-brief", version_option});
    EXPECT_EQ(run(s_client), 0) << s_client.output();
    const auto output = s_client.output();
    EXPECT_TRUE(has_text(output, "CONNECTION ESTABLISHED"));
    EXPECT_TRUE(has_text(output, "Protocol version: " + version));
    EXPECT_TRUE(has_text(output, "Peer certificate: CN = strait-server"));
    EXPECT_TRUE(has_text(output, "Verification: OK"));

    // The node took the certificate: it got past TLS and then waited for strait's hello,
    // which s_client never sends.
    EXPECT_TRUE(node_logs_another("failed set-up", past_tls_before)) << node_log();
    EXPECT_EQ(count_of(node_log(), "refused"), refused_before) << node_log();
  }
}

TEST_F(TlsInterop, OpensslClientWithoutACertificateIsRefused) {
  STRAIT_NEED_PROGRAM(openssl, "openssl", "openssl");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);

  // Under TLS 1.3 the node's refusal comes after the client's side of the handshake, as an
  // alert that s_client sees only while it keeps reading: its stdin stays open.
  for (const auto& [version_option, alert] : std::map<std::string, std::string>{
           {"-tls1_3", "alert certificate required"}, {"-tls1_2", "alert handshake failure"}}) {
    SCOPED_TRACE(version_option);
    const auto refused_before = count_of(node_log(), "peer did not return a certificate");
    auto& s_client = spawn({openssl, "s_client", "-connect", node_address(port), "-CAfile",
                            tls_files{}.ca, "-brief", version_option},
                           true);
    EXPECT_NE(run(s_client), 0) << s_client.output();
    EXPECT_TRUE(has_text(s_client.output(), alert));
    EXPECT_TRUE(node_logs_another("peer did not return a certificate", refused_before))
        << node_log();
  }
}

TEST_F(TlsInterop, OpensslClientRenegotiationIsRefused) {
  STRAIT_NEED_PROGRAM(openssl, "openssl", "openssl");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);
  const tls_files files;

  // Renegotiation exists up to TLS 1.2 only. "R" asks s_client to renegotiate.
  auto& s_client =
      spawn({openssl, "s_client", "-connect", node_address(port), "-cert", files.client_cert,
             "-key", files.client_key, "-CAfile", files.ca, "-tls1_2"},
            true);
  ASSERT_TRUE(s_client.write_stdin("R\n"));
  EXPECT_NE(run(s_client), 0) << s_client.output();
  const auto output = s_client.output();
  // RFC 5746: the node says it would only renegotiate securely...
  EXPECT_TRUE(has_text(output, "Secure Renegotiation IS supported"));
  // ...and then refuses to renegotiate at all.
  EXPECT_TRUE(has_text(output, "RENEGOTIATING"));
  EXPECT_TRUE(has_text(output, "no renegotiation"));
}

TEST_F(TlsInterop, GnutlsClientWithACertificateCompletesTheHandshake) {
  STRAIT_NEED_PROGRAM(gnutls_cli, "gnutls-cli", "gnutls-bin");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);
  const tls_files files;

  for (const auto& priority : {"NORMAL", "NORMAL:-VERS-TLS1.3"}) {
    SCOPED_TRACE(priority);
    const auto refused_before = count_of(node_log(), "refused");
    const auto past_tls_before = count_of(node_log(), "failed set-up");
    // The node's certificate is checked against ::1, which its subjectAltName lists.
    auto& cli = spawn({gnutls_cli, "--priority", priority, "--x509cafile", files.ca,
                       "--x509certfile", files.client_cert, "--x509keyfile", files.client_key, "-p",
                       std::to_string(port), "::1"});
    EXPECT_EQ(run(cli), 0) << cli.output();
    EXPECT_TRUE(has_text(cli.output(), "Successfully sent 1 certificate(s) to server"));
    EXPECT_TRUE(has_text(cli.output(), "The certificate is trusted"));
    EXPECT_TRUE(has_text(cli.output(), "Handshake was completed"));
    EXPECT_TRUE(node_logs_another("failed set-up", past_tls_before)) << node_log();
    EXPECT_EQ(count_of(node_log(), "refused"), refused_before) << node_log();
  }
}

TEST_F(TlsInterop, GnutlsClientWithoutACertificateIsRefused) {
  STRAIT_NEED_PROGRAM(gnutls_cli, "gnutls-cli", "gnutls-bin");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);

  for (const auto& [priority, alert] : std::map<std::string, std::string>{
           {"NORMAL", "Received alert [116]: Certificate is required"},
           {"NORMAL:-VERS-TLS1.3", "Received alert [40]: Handshake failed"}}) {
    SCOPED_TRACE(priority);
    const auto refused_before = count_of(node_log(), "peer did not return a certificate");
    auto& cli = spawn({gnutls_cli, "--priority", priority, "--x509cafile", tls_files{}.ca, "-p",
                       std::to_string(port), "::1"},
                      true);
    EXPECT_NE(run(cli), 0) << cli.output();
    EXPECT_TRUE(has_text(cli.output(), alert));
    EXPECT_TRUE(node_logs_another("peer did not return a certificate", refused_before))
        << node_log();
  }
}

TEST_F(TlsInterop, StraitClientCompletesAHandshakeWithOpensslServer) {
  STRAIT_NEED_PROGRAM(openssl, "openssl", "openssl");
  const tls_files files;
  // -Verify 1 demands a client certificate; -naccept 1 ends s_server after one connection.
  auto& s_server =
      spawn({openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", files.server_cert, "-key",
             files.server_key, "-CAfile", files.ca, "-Verify", "1", "-naccept", "1"},
            true);
  ASSERT_TRUE(s_server.wait_for_output("ACCEPT 127.0.0.1:", 10s)) << s_server.output();
  std::smatch match;
  const auto announced = s_server.stdout_text();
  ASSERT_TRUE(std::regex_search(announced, match, std::regex("ACCEPT 127\\.0\\.0\\.1:(\\d+)")));
  const auto port = static_cast<std::uint16_t>(std::stoi(match[1]));

  io_threads threads(1);
  client caller(threads.executor(),
                client_options_for(endpoint::from_address("127.0.0.1", port), files,
                                   {{"tlsVerifyPeerName", "1"}, {"handshakeTimeoutMs", "1000"}}));
  const auto outcome = call_once(caller);

  // The handshake worked both ways; s_server then never answers strait's hello.
  EXPECT_EQ(outcome.ec, errc::handshake_timeout) << outcome;
  EXPECT_TRUE(s_server.wait_for_output("subject=CN = strait-client", 5s)) << s_server.output();
  EXPECT_TRUE(has_text(s_server.output(), "Client certificate"));
  EXPECT_TRUE(has_text(s_server.output(), "depth=0 CN = strait-client\nverify return:1"));
}

// The lines of sslscan's section that starts with `heading`, up to the next blank line.
std::vector<std::string> sslscan_section(const std::string& output, const std::string& heading) {
  std::istringstream lines(output);
  std::vector<std::string> section;
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (inside && line.empty()) break;
    if (inside) section.push_back(line);
    if (line.find(heading) != std::string::npos) inside = true;
  }
  return section;
}

struct scanned_cipher {
  std::string version;  // "TLSv1.2"
  std::string name;     // "ECDHE-ECDSA-AES128-GCM-SHA256"
};

// "Accepted  TLSv1.2  256 bits  ECDHE-ECDSA-AES256-GCM-SHA384 Curve 25519 DHE 253"
std::vector<scanned_cipher> sslscan_ciphers(const std::string& output) {
  std::vector<scanned_cipher> ciphers;
  for (const auto& line : sslscan_section(output, "Supported Server Cipher(s):")) {
    std::istringstream fields(line);
    std::string status, version, bits, unit, name;
    fields >> status >> version >> bits >> unit >> name;
    if (status == "Preferred" || status == "Accepted") ciphers.push_back({version, name});
  }
  return ciphers;
}

// Every suite is forward secret with an AEAD cipher, and both protocols list at least one, so
// that an empty list (a scan that could not handshake) cannot pass.
void expect_forward_secret_aead_suites(const std::vector<scanned_cipher>& ciphers,
                                       const std::string& output) {
  const std::regex tls12_suite(
      "ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)");
  std::map<std::string, int> per_version;
  for (const auto& [version, name] : ciphers) {
    SCOPED_TRACE(version + " " + name);
    ++per_version[version];
    for (const auto* weak : {"CBC", "RC4", "DES", "NULL", "EXP", "anon", "ADH", "AECDH", "MD5"})
      EXPECT_EQ(name.find(weak), std::string::npos);
    if (version == "TLSv1.3") {
      EXPECT_EQ(name.rfind("TLS_", 0), 0u);  // every TLS 1.3 suite is AEAD and forward secret
    } else {
      EXPECT_EQ(version, "TLSv1.2");
      EXPECT_TRUE(std::regex_match(name, tls12_suite));
    }
  }
  EXPECT_GT(per_version["TLSv1.3"], 0) << output;
  EXPECT_GT(per_version["TLSv1.2"], 0) << output;
}

// What is asserted, and why:
// - protocols: sslscan tells them apart from the ServerHello (or the alert) to its own
//   ClientHellos, so the lines are reliable with or without a client certificate;
// - ciphers: for TLS 1.2 sslscan counts a suite only when a whole OpenSSL handshake succeeds,
//   so against a node that demands a client certificate it lists none at all unless it has
//   one: the scan presents the test client certificate (--certs, --pk), and at least one suite
//   of each protocol must be listed, so that an empty list cannot pass;
// - compression: an sslscan built without zlib cannot test it and says so; either that or
//   "Compression disabled" is accepted, "enabled" never;
// - renegotiation: sslscan tries it over the highest protocol, TLS 1.3, which has none, so its
//   verdict says little; it must not report insecure renegotiation, and
//   OpensslClientRenegotiationIsRefused tries it over TLS 1.2.
TEST_F(TlsInterop, SslscanFindsOnlyModernProtocolsAndAeadSuites) {
  STRAIT_NEED_PROGRAM(sslscan, "sslscan", "sslscan");
  const auto port = start_straitd();
  ASSERT_NE(port, 0);
  const tls_files files;

  auto& scan = spawn({sslscan, "--no-colour", "--certs=" + files.client_cert,
                      "--pk=" + files.client_key, node_address(port)});
  ASSERT_EQ(run(scan), 0) << scan.output();
  const auto output = scan.stdout_text();

  const std::vector<std::string> protocols{"SSLv2     disabled", "SSLv3     disabled",
                                           "TLSv1.0   disabled", "TLSv1.1   disabled",
                                           "TLSv1.2   enabled",  "TLSv1.3   enabled"};
  EXPECT_EQ(sslscan_section(output, "SSL/TLS Protocols:"), protocols) << output;

  expect_forward_secret_aead_suites(sslscan_ciphers(output), output);

  const auto compression = sslscan_section(output, "TLS Compression:");
  ASSERT_FALSE(compression.empty()) << output;
  EXPECT_TRUE(compression.front() == "Compression disabled" ||
              compression.front() == "OpenSSL version does not support compression")
      << compression.front();
  const auto renegotiation = sslscan_section(output, "TLS renegotiation:");
  ASSERT_FALSE(renegotiation.empty()) << output;
  EXPECT_TRUE(renegotiation.front() == "Session renegotiation not supported" ||
              renegotiation.front() == "Secure session renegotiation supported")
      << renegotiation.front();
  for (const auto& line : sslscan_section(output, "Heartbleed:"))
    EXPECT_TRUE(has_text(line, "not vulnerable"));
}

}  // namespace
}  // namespace strait
