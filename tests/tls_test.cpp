// SPDX-License-Identifier: Apache-2.0
#include <strait/tls.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "run_unprivileged.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace strait {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

std::string test_file(std::string_view name) {
  return std::string(STRAIT_TEST_CERTS) + "/" + std::string(name);
}

// The files of one configuration; an empty path leaves its key out.
struct tls_files {
  std::string ca = test_file("ca.crt");
  std::string server_cert = test_file("server.crt");
  std::string server_key = test_file("server.key");
  std::string client_cert = test_file("client.crt");
  std::string client_key = test_file("client.key");
};

tls_files seed_files() {
  return {test_file("seed/ca.crt"), test_file("seed/server.crt"), test_file("seed/server.key"),
          test_file("seed/client.crt"), test_file("seed/client.key")};
}

std::string cfg_text(const tls_files& files, std::string_view enable_line = "enableTLS 1") {
  std::string text = std::string(enable_line) + "\n";
  const auto add = [&](std::string_view key, const std::string& path) {
    if (!path.empty()) text += std::string(key) + " " + path + "\n";
  };
  add("tlsCaPath", files.ca);
  add("tlsSvrCertPath", files.server_cert);
  add("tlsSvrKeyPath", files.server_key);
  add("tlsCliCertPath", files.client_cert);
  add("tlsCliKeyPath", files.client_key);
  return text;
}

// A configuration read from taos.cfg text, and the TLS state built from it.
struct loaded {
  config cfg;
  tls_config tls;
};

std::unique_ptr<loaded> load(const std::string& text, node_role role = node_role::node,
                             tls_check_options options = {}) {
  auto result = std::make_unique<loaded>();
  result->cfg.load_text(text, "taos.cfg");
  EXPECT_FALSE(result->cfg.has_errors()) << "the test's own text: " << result->cfg.problems_text();
  result->tls = tls_config::from_config(result->cfg, role, options);
  return result;
}

std::vector<config_problem> problems_of(const config& cfg, config_problem::severity level) {
  std::vector<config_problem> found;
  for (const auto& problem : cfg.problems()) {
    if (problem.level == level) found.push_back(problem);
  }
  return found;
}

// Expects that the only error is about `key` and that its message says each of `parts`.
void expect_only_error(const loaded& result, std::string_view key,
                       const std::vector<std::string>& parts) {
  EXPECT_FALSE(result.tls.enabled());
  EXPECT_TRUE(result.cfg.has_errors());
  const auto errors = problems_of(result.cfg, config_problem::severity::error);
  ASSERT_EQ(errors.size(), 1u) << result.cfg.problems_text();
  EXPECT_EQ(errors.front().key, key) << errors.front().to_string();
  for (const auto& part : parts) {
    EXPECT_NE(errors.front().message.find(part), std::string::npos)
        << "expected \"" << part << "\" in: " << errors.front().message;
  }
}

// --- the seed's start-up constraints -------------------------------------------------------

TEST(TlsConfig, NodeWithSomeButNotAllPathsNamesEveryMissingAndGivenKey) {
  struct partial_case {
    tls_files files;
    std::vector<std::string> missing;
    std::vector<std::string> given;
  };
  const std::vector<partial_case> cases = {
      {{.server_key = {}, .client_cert = {}, .client_key = {}},
       {"tlsSvrKeyPath", "tlsCliCertPath", "tlsCliKeyPath"},
       {"tlsCaPath", "tlsSvrCertPath"}},
      {{.ca = {}}, {"tlsCaPath"}, {"tlsSvrCertPath", "tlsSvrKeyPath", "tlsCliCertPath"}},
      {{.client_key = {}}, {"tlsCliKeyPath"}, {"tlsCaPath", "tlsSvrKeyPath", "tlsCliCertPath"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(cfg_text(c.files));
    const auto result = load(cfg_text(c.files));
    auto parts = c.missing;
    parts.insert(parts.end(), c.given.begin(), c.given.end());
    parts.push_back("a node needs all five");
    expect_only_error(*result, c.missing.front(), parts);
  }
}

TEST(TlsConfig, ClientWithSomeButNotAllPathsNamesEveryMissingAndGivenKey) {
  const std::vector<std::pair<tls_files, std::string>> cases = {
      {{.client_key = {}}, "tlsCliKeyPath"},
      {{.ca = {}, .client_cert = {}}, "tlsCaPath"},
  };
  for (const auto& [files, first_missing] : cases) {
    SCOPED_TRACE(cfg_text(files));
    const auto result = load(cfg_text(files), node_role::client);
    expect_only_error(*result, first_missing,
                      {"a client needs all three", "tlsCaPath", "tlsCliCertPath", "tlsCliKeyPath"});
  }
}

TEST(TlsConfig, ClientIgnoresServerPaths) {
  const auto result = load(cfg_text({.server_cert = {}, .server_key = {}}), node_role::client);
  EXPECT_TRUE(result->cfg.problems().empty()) << result->cfg.problems_text();
  EXPECT_TRUE(result->tls.enabled());

  const auto only_server = load(
      cfg_text({.ca = {}, .client_cert = {}, .client_key = {}}, "enableTLS 0"), node_role::client);
  EXPECT_TRUE(only_server->cfg.problems().empty()) << only_server->cfg.problems_text();
  EXPECT_FALSE(only_server->tls.enabled());
}

TEST(TlsConfig, EnableTlsWithoutPathsIsRefused) {
  for (const auto role : {node_role::node, node_role::client}) {
    SCOPED_TRACE(role == node_role::node ? "node" : "client");
    const auto result = load("enableTLS 1\n", role);
    expect_only_error(*result, "enableTLS", {"is 1 but no TLS path is set", "tlsCaPath"});
  }
}

TEST(TlsConfig, PathsWithTlsOffAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"enableTLS 0", "enableTLS is 0,"},
      {"", "enableTLS is 0 (the default)"},
  };
  for (const auto& [enable_line, said] : cases) {
    SCOPED_TRACE(enable_line);
    const auto result = load(cfg_text({}, enable_line));
    expect_only_error(*result, "tlsCaPath",
                      {said, "set enableTLS 1", "remove the TLS paths", "tlsCliKeyPath"});
  }
}

TEST(TlsConfig, NoPathsAndTlsOffIsPlain) {
  for (const auto role : {node_role::node, node_role::client}) {
    const auto result = load("enableTLS 0\n", role);
    EXPECT_TRUE(result->cfg.problems().empty()) << result->cfg.problems_text();
    EXPECT_FALSE(result->tls.enabled());
    EXPECT_EQ(result->tls.server_context(), nullptr);
    EXPECT_EQ(result->tls.client_context(), nullptr);
  }
}

// --- one test per file problem -------------------------------------------------------------

TEST(TlsPreflight, MissingFileIsRefused) {
  const auto path = test_file("no-such-file.crt");
  const auto result = load(cfg_text({.server_cert = path}));
  expect_only_error(*result, "tlsSvrCertPath", {path, "does not exist"});
}

TEST(TlsPreflight, UnreadableFileIsRefused) {
  const auto path =
      (fs::temp_directory_path() / ("strait-unreadable-" + std::to_string(getpid()) + ".key"))
          .string();
  fs::copy_file(test_file("server.key"), path, fs::copy_options::overwrite_existing);
  fs::permissions(path, fs::perms::none);
  // The other files must stay readable to the unprivileged checker.
  const auto others = fs::temp_directory_path() / ("strait-readable-" + std::to_string(getpid()));
  fs::create_directories(others);
  fs::permissions(others, fs::perms::owner_all | fs::perms::others_exec);
  std::vector<std::string> copies;
  for (const char* name : {"ca.crt", "server.crt", "client.crt", "client.key"}) {
    copies.push_back((others / name).string());
    fs::copy_file(test_file(name), copies.back(), fs::copy_options::overwrite_existing);
    fs::permissions(copies.back(), fs::perms::owner_read | fs::perms::others_read);
  }
  const bool refused = strait::testing::run_unprivileged([&] {
    const auto result = load(cfg_text({.ca = copies[0],
                                       .server_cert = copies[1],
                                       .server_key = path,
                                       .client_cert = copies[2],
                                       .client_key = copies[3]}));
    const auto errors = problems_of(result->cfg, config_problem::severity::error);
    const bool named = errors.size() == 1 && errors[0].key == "tlsSvrKeyPath" &&
                       errors[0].message.find(path) != std::string::npos &&
                       errors[0].message.find("cannot be read") != std::string::npos &&
                       errors[0].message.find("Permission denied") != std::string::npos;
    if (!named) std::fprintf(stderr, "problems:\n%s", result->cfg.problems_text().c_str());
    return named;
  });
  fs::remove(path);
  fs::remove_all(others);
  EXPECT_TRUE(refused);
}

TEST(TlsPreflight, PipeOrDeviceIsRefusedWithoutBeingRead) {
  const auto fifo =
      (fs::temp_directory_path() / ("strait-fifo-" + std::to_string(getpid()) + ".crt")).string();
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& path : {fifo, std::string("/dev/zero")}) {
    SCOPED_TRACE(path);
    // A pipe with no writer blocks whoever opens it: the check must not open it at all.
    const auto result = load(cfg_text({.ca = path}));
    expect_only_error(*result, "tlsCaPath", {path, "is not a regular file"});
  }
  fs::remove(fifo);
}

TEST(TlsPreflight, FileThatIsNotPemIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {test_file("not-pem.txt"), "is not a PEM file"},
      {test_file("server.der"), "it looks like DER"},
  };
  for (const auto& [path, said] : cases) {
    SCOPED_TRACE(path);
    const auto result = load(cfg_text({.server_cert = path}));
    expect_only_error(*result, "tlsSvrCertPath", {path, said});
  }
}

TEST(TlsPreflight, KeyWhereCertificateIsExpectedIsRefused) {
  const auto path = test_file("client.key");
  const auto result = load(cfg_text({.client_cert = path}));
  expect_only_error(*result, "tlsCliCertPath",
                    {path, "holds a private key, not a certificate", "tlsCliKeyPath"});
}

TEST(TlsPreflight, CertificateWhereKeyIsExpectedIsRefused) {
  const auto path = test_file("client.crt");
  const auto result = load(cfg_text({.client_key = path}));
  expect_only_error(*result, "tlsCliKeyPath",
                    {path, "holds a certificate, not a private key", "tlsCliCertPath"});
}

TEST(TlsPreflight, KeyThatDoesNotMatchItsCertificateIsRefused) {
  const auto path = test_file("unrelated.key");
  const auto result = load(cfg_text({.server_key = path}));
  expect_only_error(*result, "tlsSvrKeyPath",
                    {path, "does not match the certificate", test_file("server.crt")});
}

TEST(TlsPreflight, CertificateFromAnotherCaIsRefused) {
  const auto path = test_file("other-ca-signed.crt");
  const auto result =
      load(cfg_text({.server_cert = path, .server_key = test_file("other-ca-signed.key")}));
  expect_only_error(*result, "tlsSvrCertPath",
                    {path, "does not verify against the CA", test_file("ca.crt"),
                     "unable to get local issuer certificate", "CN=strait other CA"});
}

TEST(TlsPreflight, CaFileWithoutCaCertificateIsRefused) {
  const auto path = test_file("leaf-as-ca.crt");
  const auto result = load(cfg_text({.ca = path}));
  expect_only_error(*result, "tlsCaPath", {path, "holds no CA certificate", "CA:TRUE"});
}

TEST(TlsPreflight, ExpiredCertificateIsRefused) {
  const auto path = test_file("expired.crt");
  const auto result = load(cfg_text({.server_cert = path, .server_key = test_file("expired.key")}));
  expect_only_error(*result, "tlsSvrCertPath", {path, "expired 2021-01-01 00:00:00 UTC"});
}

TEST(TlsPreflight, NotYetValidCertificateIsRefused) {
  const auto path = test_file("not-yet-valid.crt");
  const auto result =
      load(cfg_text({.server_cert = path, .server_key = test_file("not-yet-valid.key")}));
  expect_only_error(*result, "tlsSvrCertPath",
                    {path, "is not valid yet", "starts 2090-01-01 00:00:00 UTC"});
}

TEST(TlsPreflight, ValidityIsJudgedAtTheGivenTime) {
  // 2000-01-01: before every test certificate was made.
  const tls_check_options options{.now = std::chrono::system_clock::from_time_t(946684800)};
  const auto problems = check_tls_files(tls_paths{.ca = test_file("ca.crt"),
                                                  .client_cert = test_file("client.crt"),
                                                  .client_key = test_file("client.key")},
                                        node_role::client, options);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].key, "tlsCaPath");
  EXPECT_EQ(problems[1].key, "tlsCliCertPath");
  for (const auto& problem : problems) {
    EXPECT_NE(problem.message.find("it is now 2000-01-01 00:00:00 UTC"), std::string::npos)
        << problem.message;
  }
}

// When a certificate file's validity starts, read without strait.
std::chrono::system_clock::time_point not_before_of(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  std::tm parts{};
  EXPECT_EQ(ASN1_TIME_to_tm(X509_get0_notBefore(cert.get()), &parts), 1) << path;
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

TEST(TlsPreflight, CertificateExpiringSoonIsOnlyAWarning) {
  // The certificate is valid for ten days; judge it one day into them, whenever the test runs.
  const auto path = test_file("expiring-soon.crt");
  const auto now = not_before_of(path) + hours(24);
  const std::string text =
      cfg_text({.server_cert = path, .server_key = test_file("expiring-soon.key")});
  const std::vector<std::pair<hours, std::size_t>> cases = {{hours(24 * 30), 1}, {hours(24), 0}};
  for (const auto& [window, warnings] : cases) {
    SCOPED_TRACE("warning window " + std::to_string(window.count()) + " h");
    const auto result = load(text, node_role::node, {.expiry_warning = window, .now = now});
    EXPECT_TRUE(result->tls.enabled());
    EXPECT_FALSE(result->cfg.has_errors()) << result->cfg.problems_text();
    const auto found = problems_of(result->cfg, config_problem::severity::warning);
    ASSERT_EQ(found.size(), warnings) << result->cfg.problems_text();
    if (warnings == 0) continue;
    EXPECT_EQ(found.front().key, "tlsSvrCertPath");
    EXPECT_NE(found.front().message.find(path), std::string::npos);
    EXPECT_NE(found.front().message.find("in 9 days; renew it"), std::string::npos)
        << found.front().message;
  }
}

TEST(TlsPreflight, EncryptedKeyIsRefused) {
  for (const auto* name : {"encrypted-pkcs8.key", "encrypted-legacy.key"}) {
    SCOPED_TRACE(name);
    const auto path = test_file(name);
    const auto result = load(cfg_text({.client_key = path}));
    expect_only_error(*result, "tlsCliKeyPath",
                      {path, "encrypted private key", "unencrypted PEM keys", "permissions"});
  }
}

TEST(TlsPreflight, EveryProblemIsReportedAtOnce) {
  const auto result = load(cfg_text({.ca = test_file("leaf-as-ca.crt"),
                                     .server_cert = test_file("expired.crt"),
                                     .server_key = test_file("unrelated.key"),
                                     .client_key = {}}));
  std::vector<std::string> keys;
  for (const auto& problem : problems_of(result->cfg, config_problem::severity::error)) {
    keys.push_back(problem.key);
  }
  const std::vector<std::string> expected = {"tlsCliKeyPath", "tlsCaPath", "tlsSvrCertPath",
                                             "tlsSvrKeyPath"};
  EXPECT_EQ(keys, expected) << result->cfg.problems_text();
  EXPECT_FALSE(result->tls.enabled());
}

// --- valid configurations ------------------------------------------------------------------

TEST(TlsConfig, ValidNodeGetsServerAndClientContexts) {
  const tls_files files;
  const auto result = load(cfg_text(files));
  EXPECT_TRUE(result->cfg.problems().empty()) << result->cfg.problems_text();
  ASSERT_TRUE(result->tls.enabled());
  EXPECT_NE(result->tls.server_context(), nullptr);
  EXPECT_NE(result->tls.client_context(), nullptr);
  EXPECT_EQ(result->tls.paths().server_key, files.server_key);
  EXPECT_FALSE(result->tls.verify_peer_name());
}

TEST(TlsConfig, ValidClientGetsOnlyTheClientContext) {
  const auto result = load(cfg_text({.server_cert = {}, .server_key = {}}), node_role::client);
  EXPECT_TRUE(result->cfg.problems().empty()) << result->cfg.problems_text();
  ASSERT_TRUE(result->tls.enabled());
  EXPECT_EQ(result->tls.server_context(), nullptr);
  EXPECT_NE(result->tls.client_context(), nullptr);
}

TEST(TlsConfig, SeedCertificatesAreAccepted) {
  for (const auto role : {node_role::node, node_role::client}) {
    SCOPED_TRACE(role == node_role::node ? "node" : "client");
    const auto result = load(cfg_text(seed_files()), role);
    EXPECT_TRUE(result->cfg.problems().empty()) << result->cfg.problems_text();
    EXPECT_TRUE(result->tls.enabled());
  }
}

TEST(TlsConfig, VerifyPeerNameWithCnOnlyServerCertificateIsAWarning) {
  const auto result = load(cfg_text(seed_files()) + "tlsVerifyPeerName 1\n");
  EXPECT_TRUE(result->tls.enabled());
  EXPECT_TRUE(result->tls.verify_peer_name());
  const auto warnings = problems_of(result->cfg, config_problem::severity::warning);
  ASSERT_EQ(warnings.size(), 1u) << result->cfg.problems_text();
  EXPECT_EQ(warnings.front().key, "tlsVerifyPeerName");
  EXPECT_NE(warnings.front().message.find("no subjectAltName"), std::string::npos);

  const auto with_names = load(cfg_text({}) + "tlsVerifyPeerName 1\n");
  EXPECT_TRUE(with_names->cfg.problems().empty()) << with_names->cfg.problems_text();
}

TEST(TlsConfig, ContextsRefuseOldProtocolsAndKeepIdleConnectionsSmall) {
  const auto result = load(cfg_text({}));
  ASSERT_TRUE(result->tls.enabled());
  for (const auto& context : {result->tls.server_context(), result->tls.client_context()}) {
    SSL_CTX* ctx = context->native_handle();
    EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    const auto options = SSL_CTX_get_options(ctx);
    EXPECT_NE(options & SSL_OP_NO_COMPRESSION, 0u);
    EXPECT_NE(options & SSL_OP_NO_RENEGOTIATION, 0u);
    EXPECT_TRUE((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
  }
  const auto server_verify = SSL_CTX_get_verify_mode(result->tls.server_context()->native_handle());
  EXPECT_EQ(server_verify, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  EXPECT_EQ(SSL_CTX_get_verify_mode(result->tls.client_context()->native_handle()),
            SSL_VERIFY_PEER);
}

// --- handshakes in memory ------------------------------------------------------------------

// A client and a server SSL joined by a BIO pair: a whole TLS conversation with no socket.
class memory_link {
 public:
  memory_link(SSL_CTX* server_ctx, SSL_CTX* client_ctx)
      : server_(SSL_new(server_ctx)), client_(SSL_new(client_ctx)) {
    BIO* server_end = nullptr;
    BIO* client_end = nullptr;
    BIO_new_bio_pair(&server_end, 0, &client_end, 0);
    SSL_set_bio(server_.get(), server_end, server_end);
    SSL_set_bio(client_.get(), client_end, client_end);
    SSL_set_accept_state(server_.get());
    SSL_set_connect_state(client_.get());
  }

  // Runs both sides until both finish or one fails; true when both finished.
  bool handshake() {
    for (int round = 0; round < 50; ++round) {
      const int client_done = SSL_do_handshake(client_.get());
      const int server_done = SSL_do_handshake(server_.get());
      if (client_done == 1 && server_done == 1) return true;
      if (failed(client_, client_done) || failed(server_, server_done)) return false;
    }
    return false;
  }

  // Lets the client take what the server sent after the handshake (TLS 1.3 session tickets).
  void client_reads_pending() {
    char byte = 0;
    EXPECT_LE(SSL_read(client_.get(), &byte, 1), 0);
  }

  SSL* server() const { return server_.get(); }
  SSL* client() const { return client_.get(); }

 private:
  struct ssl_free {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

  static bool failed(const ssl_ptr& ssl, int rc) {
    if (rc == 1) return false;
    const int error = SSL_get_error(ssl.get(), rc);
    return error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE;
  }

  ssl_ptr server_;
  ssl_ptr client_;
};

std::unique_ptr<loaded> valid_node() {
  auto result = load(cfg_text({}));
  EXPECT_TRUE(result->tls.enabled()) << result->cfg.problems_text();
  return result;
}

SSL_CTX* server_ctx(const loaded& node) {
  return node.tls.server_context()->native_handle();
}
SSL_CTX* client_ctx(const loaded& node) {
  return node.tls.client_context()->native_handle();
}

// The SHA-256 of a certificate file's DER, as "AB:CD:...", computed without strait.
std::string fingerprint_of_file(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  unsigned char* der = nullptr;
  const int length = i2d_X509(cert.get(), &der);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_length = 0;
  EVP_Digest(der, static_cast<std::size_t>(length), digest, &digest_length, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  std::string text;
  constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned int i = 0; i < digest_length; ++i) {
    if (i > 0) text += ':';
    text += hex[digest[i] >> 4];
    text += hex[digest[i] & 0xf];
  }
  return text;
}

TEST(IdentityOf, ReportsEachPeersCertificateAfterAHandshake) {
  const auto node = valid_node();
  memory_link link(server_ctx(*node), client_ctx(*node));
  ASSERT_TRUE(link.handshake()) << drain_openssl_errors();

  const auto client = identity_of(link.server());
  EXPECT_EQ(client.subject, "CN=strait-client");
  EXPECT_EQ(client.dns_names, std::vector<std::string>{"localhost"});
  EXPECT_EQ(client.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(client.sha256_fingerprint, fingerprint_of_file(test_file("client.crt")));
  EXPECT_EQ(client.to_string(), "CN=strait-client sha256=" + client.sha256_fingerprint);

  const auto server = identity_of(link.client());
  EXPECT_EQ(server.subject, "CN=strait-server");
  EXPECT_EQ(server.sha256_fingerprint, fingerprint_of_file(test_file("server.crt")));
}

TEST(IdentityOf, IsEmptyWithoutASession) {
  const auto none = identity_of(nullptr);
  EXPECT_TRUE(none.subject.empty());
  EXPECT_TRUE(none.sha256_fingerprint.empty());
  EXPECT_EQ(none.to_string(), "no certificate");
}

TEST(TlsHandshake, ServerRefusesAClientWithoutCertificate) {
  const auto node = valid_node();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> anonymous(SSL_CTX_new(TLS_client_method()),
                                                              &SSL_CTX_free);
  ASSERT_EQ(SSL_CTX_load_verify_locations(anonymous.get(), test_file("ca.crt").c_str(), nullptr),
            1);
  memory_link link(server_ctx(*node), anonymous.get());
  EXPECT_FALSE(link.handshake());
  EXPECT_NE(drain_openssl_errors().find("peer did not return a certificate"), std::string::npos);
}

TEST(TlsHandshake, Tls12NegotiatesOnlyForwardSecretAeadSuites) {
  const auto node = valid_node();
  {
    memory_link link(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(link.client(), TLS1_2_VERSION);
    ASSERT_TRUE(link.handshake()) << drain_openssl_errors();
    EXPECT_STREQ(SSL_get_version(link.client()), "TLSv1.2");
    const std::string suite = SSL_get_cipher_name(link.client());
    EXPECT_EQ(suite.rfind("ECDHE-", 0), 0u) << suite;
    EXPECT_TRUE(suite.find("GCM") != std::string::npos ||
                suite.find("CHACHA20") != std::string::npos)
        << suite;
  }
  // A client that offers only a CBC suite finds no common suite.
  memory_link link(server_ctx(*node), client_ctx(*node));
  SSL_set_max_proto_version(link.client(), TLS1_2_VERSION);
  ASSERT_EQ(SSL_set_cipher_list(link.client(), "ECDHE-ECDSA-AES128-SHA"), 1);
  EXPECT_FALSE(link.handshake());
  EXPECT_NE(drain_openssl_errors().find("no shared cipher"), std::string::npos);
}

TEST(TlsHandshake, SecondHandshakeResumesTheSession) {
  const auto node = valid_node();
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
    memory_link first(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(first.client(), version);
    ASSERT_TRUE(first.handshake()) << drain_openssl_errors();
    first.client_reads_pending();
    std::unique_ptr<SSL_SESSION, decltype(&SSL_SESSION_free)> session(
        SSL_get1_session(first.client()), &SSL_SESSION_free);
    ASSERT_NE(session, nullptr);

    memory_link second(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(second.client(), version);
    ASSERT_EQ(SSL_set_session(second.client(), session.get()), 1);
    ASSERT_TRUE(second.handshake()) << drain_openssl_errors();
    EXPECT_EQ(SSL_session_reused(second.client()), 1);
    // The server still knows who the client is.
    EXPECT_EQ(identity_of(second.server()).subject, "CN=strait-client");
  }
}

TEST(TlsSessionCache, ReconnectingToTheSameNodeResumesAndOtherNodesDoNot) {
  const auto node = valid_node();
  auto cache = tls_session_cache::create();
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
    const std::string name = "node-" + std::to_string(version) + ":6030";

    memory_link first(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(first.client(), version);
    cache->prepare(first.client(), name);
    ASSERT_TRUE(first.handshake()) << drain_openssl_errors();
    first.client_reads_pending();
    EXPECT_EQ(SSL_session_reused(first.client()), 0);

    memory_link again(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(again.client(), version);
    cache->prepare(again.client(), name);
    ASSERT_TRUE(again.handshake()) << drain_openssl_errors();
    EXPECT_EQ(SSL_session_reused(again.client()), 1);

    memory_link elsewhere(server_ctx(*node), client_ctx(*node));
    SSL_set_max_proto_version(elsewhere.client(), version);
    cache->prepare(elsewhere.client(), "another-node:6030");
    ASSERT_TRUE(elsewhere.handshake()) << drain_openssl_errors();
    EXPECT_EQ(SSL_session_reused(elsewhere.client()), 0);
  }
}

TEST(TlsSessionCache, ConnectionsOutliveTheirCacheSafely) {
  const auto node = valid_node();
  auto cache = tls_session_cache::create();
  memory_link link(server_ctx(*node), client_ctx(*node));
  cache->prepare(link.client(), "node:6030");
  cache.reset();
  ASSERT_TRUE(link.handshake()) << drain_openssl_errors();
  link.client_reads_pending();  // the ticket arrives with no cache to take it
}

// --- peer names ----------------------------------------------------------------------------

peer_identity identity_of_file(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  EXPECT_NE(cert, nullptr) << path;
  return identity_of_certificate(cert.get());
}

TEST(CheckPeerName, MatchesDnsSubjectAltName) {
  const auto server = identity_of_file(test_file("server.crt"));
  for (const auto* host : {"localhost", "LocalHost", "localhost."}) {
    SCOPED_TRACE(host);
    EXPECT_EQ(check_peer_name(server, host), "");
  }
  EXPECT_EQ(check_peer_name(identity_of_file(test_file("name-and-ip.crt")), "node1.strait.test"),
            "");
}

TEST(CheckPeerName, MatchesIpSubjectAltName) {
  const auto server = identity_of_file(test_file("server.crt"));
  for (const auto* host : {"127.0.0.1", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    SCOPED_TRACE(host);
    EXPECT_EQ(check_peer_name(server, host), "");
  }
  EXPECT_EQ(check_peer_name(identity_of_file(test_file("name-and-ip.crt")), "127.0.0.2"), "");
}

TEST(CheckPeerName, WildcardStandsForOneLeftmostLabel) {
  const peer_identity wildcard{.subject = "CN=cluster", .dns_names = {"*.strait.test"}};
  const std::vector<std::pair<std::string, bool>> cases = {{"node1.strait.test", true},
                                                           {"NODE2.strait.test", true},
                                                           {"strait.test", false},
                                                           {"a.node1.strait.test", false},
                                                           {"node1.strait.example", false}};
  for (const auto& [host, matches] : cases) {
    SCOPED_TRACE(host);
    EXPECT_EQ(check_peer_name(wildcard, host).empty(), matches);
  }
}

TEST(CheckPeerName, MismatchListsTheCertificateNames) {
  const auto named = identity_of_file(test_file("name-and-ip.crt"));
  for (const auto* host : {"node2.strait.test", "127.0.0.1", "::1"}) {
    SCOPED_TRACE(host);
    const auto message = check_peer_name(named, host);
    EXPECT_NE(message.find(std::string("\"") + host + "\""), std::string::npos) << message;
    EXPECT_NE(message.find("DNS:node1.strait.test, IP:127.0.0.2"), std::string::npos) << message;
  }
}

TEST(CheckPeerName, IpWrittenAsDnsNameIsPointedOut) {
  const auto message = check_peer_name(identity_of_file(test_file("ip-as-dns.crt")), "127.0.0.1");
  EXPECT_NE(message.find("lists 127.0.0.1 as a DNS name (DNS:127.0.0.1)"), std::string::npos)
      << message;
  EXPECT_NE(message.find("subjectAltName IP:127.0.0.1"), std::string::npos) << message;
}

TEST(CheckPeerName, DialledHostWithPortIsPointedOut) {
  const auto server = identity_of_file(test_file("server.crt"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"localhost:6030", "\"localhost\""}, {"[::1]:6030", "\"[::1]\""}};
  for (const auto& [dialled, host] : cases) {
    SCOPED_TRACE(dialled);
    const auto message = check_peer_name(server, dialled);
    EXPECT_NE(message.find("includes a port: check the host alone (" + host + ")"),
              std::string::npos)
        << message;
  }
}

TEST(CheckPeerName, CnOnlyCertificateIsExplained) {
  const auto seed_server = identity_of_file(test_file("seed/server.crt"));
  EXPECT_EQ(seed_server.subject, "CN=localhost");
  const auto message = check_peer_name(seed_server, "localhost");
  EXPECT_NE(message.find("no subjectAltName"), std::string::npos) << message;
  EXPECT_NE(message.find("tlsVerifyPeerName 0"), std::string::npos) << message;
}

// --- the OpenSSL error queue ---------------------------------------------------------------

TEST(DrainOpensslErrors, JoinsTheWholeQueueAndEmptiesIt) {
  ERR_clear_error();
  ERR_raise(ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH);
  ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
  EXPECT_EQ(drain_openssl_errors(), "key values mismatch; no start line");
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_EQ(drain_openssl_errors("nothing queued"), "nothing queued");
}

}  // namespace
}  // namespace strait
