// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <strait/config.hpp>

#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
typedef struct x509_st X509;

namespace strait {

namespace asio = boost::asio;

// A node (straitd) listens with the server certificate and dials its peers, its own firstEp
// included, with the client certificate. A client only dials.
enum class node_role { client, node };

// The five TLS paths of the seed, as configured.
struct tls_paths {
  std::string ca;           // tlsCaPath
  std::string server_cert;  // tlsSvrCertPath
  std::string server_key;   // tlsSvrKeyPath
  std::string client_cert;  // tlsCliCertPath
  std::string client_key;   // tlsCliKeyPath
};

// Who is at the other end of a mutual-TLS connection, from its verified certificate.
struct peer_identity {
  std::string subject;                    // one-line form, "CN=Client"
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, formatted
  std::string sha256_fingerprint;         // upper-case hex pairs joined by ':'

  // "CN=Client sha256=AB:CD:..." for log lines.
  std::string to_string() const;
};

// The peer identity of an established TLS session; empty when the peer sent no certificate.
peer_identity identity_of(const SSL* ssl);
// The identity a certificate carries (what identity_of reports for a peer that presents it);
// empty for a null certificate.
peer_identity identity_of_certificate(const X509* certificate);

// Checks a TLS peer's certificate names against the name or address that was dialled. Returns
// an empty string on a match, otherwise a sentence listing the names the certificate carries
// and, where it helps, what is probably wrong (an IP written as a DNS name, a port included).
std::string check_peer_name(const peer_identity& peer, const std::string& dialled_host);

// Preflight of one certificate file and its key: everything that can be found out before a
// socket opens. Each problem names the key, the path and the cause. Exposed for tests and for
// tools that explain a configuration.
struct tls_check_options {
  // Warn when a certificate expires within this time.
  std::chrono::hours expiry_warning{24 * 30};
  // "Now" for validity checks; the current time when unset.
  std::chrono::system_clock::time_point now{};
};

// Checks the files of `paths` that `role` uses (a client ignores the server paths); empty paths
// are skipped, so that a partial configuration still gets every given file checked. The CA file
// must hold a certificate with basicConstraints CA:TRUE; each certificate file must parse, be
// within its validity period and verify against the CA for its purpose (server or client
// authentication); each key must be an unencrypted PEM private key that matches its
// certificate. A certificate that expires within options.expiry_warning is a warning. Each
// problem has its key and a message that quotes the path and says what to do; origin and line
// are left empty for the caller. Never prompts for a passphrase.
std::vector<config_problem> check_tls_files(const tls_paths& paths, node_role role,
                                            const tls_check_options& options = {});

// Validated TLS state of a process: off, or ready contexts. Building it applies the seed's
// start-up constraints and checks every file; problems are added to the config, so that they
// are reported together with every other start-up problem.
class tls_config {
 public:
  // Off: every connection is plain.
  tls_config() = default;

  // Reads `enableTLS` and the paths from `cfg`. A node needs all five paths or none; a client
  // needs tlsCaPath, tlsCliCertPath and tlsCliKeyPath or none; `enableTLS 1` without them is
  // an error, and so are paths given with `enableTLS 0`. Every file is checked (readable, PEM,
  // expected object, key matches certificate, chains to the CA, within its validity period,
  // not encrypted). On any error the result is off and cfg.has_errors() is true.
  static tls_config from_config(config& cfg, node_role role, tls_check_options options = {});

  bool enabled() const noexcept { return client_ != nullptr; }
  // The context for accepting: server certificate, client certificates required and verified.
  // Null unless enabled and role is node.
  const std::shared_ptr<asio::ssl::context>& server_context() const noexcept { return server_; }
  // The context for dialling: client certificate, the node's certificate verified.
  // Null unless enabled.
  const std::shared_ptr<asio::ssl::context>& client_context() const noexcept { return client_; }
  // `tlsVerifyPeerName`: whether a client checks the node's subjectAltName against the host it
  // dialled (off by default, so that the seed's CN-only certificates work).
  bool verify_peer_name() const noexcept { return verify_peer_name_; }
  const tls_paths& paths() const noexcept { return paths_; }

 private:
  std::shared_ptr<asio::ssl::context> server_;
  std::shared_ptr<asio::ssl::context> client_;
  bool verify_peer_name_ = false;
  tls_paths paths_;
};

// Remembers the latest resumable TLS session of each node a client dials, so that reconnecting
// resumes (no certificate exchange, fewer round trips) instead of repeating the full handshake.
// Thread-safe; one cache serves every connection of a client.
class tls_session_cache : public std::enable_shared_from_this<tls_session_cache> {
 public:
  static std::shared_ptr<tls_session_cache> create();
  ~tls_session_cache();
  tls_session_cache(const tls_session_cache&) = delete;
  tls_session_cache& operator=(const tls_session_cache&) = delete;

  // Before a handshake with `node`: offers the session stored for it, and has sessions the
  // node issues on this connection stored under `node`. Needs a context passed through
  // enable_session_resumption(); tls_config's client context is.
  void prepare(SSL* ssl, const std::string& node);
  // How many nodes have a stored session.
  std::size_t size() const;
  // Called by OpenSSL through the context's new-session callback; takes the reference.
  void store(const std::string& node, SSL_SESSION* session);

 private:
  tls_session_cache() = default;

  mutable std::mutex mutex_;
  std::map<std::string, SSL_SESSION*> sessions_;
};

// Makes a client context hand every new session to the tls_session_cache of its connection.
void enable_session_resumption(asio::ssl::context& client_context);

// The whole OpenSSL error queue of this thread as one line, emptied; `fallback` when empty.
std::string drain_openssl_errors(std::string_view fallback = "no OpenSSL error reported");

}  // namespace strait
