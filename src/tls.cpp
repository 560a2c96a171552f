// SPDX-License-Identifier: Apache-2.0
#include <strait/tls.hpp>

#include "tls_preflight.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string_view>

namespace strait {
namespace {

using context_ptr = std::shared_ptr<asio::ssl::context>;

// TLS 1.2 suites: forward-secret key exchange and AEAD ciphers only (no CBC, no RSA key
// exchange). TLS 1.3 keeps OpenSSL's default suites, which are all of that kind.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Sessions a server keeps for resumption by session id. Session tickets carry resumption
// without server state; the cache serves peers that do not take tickets, and its bound keeps a
// burst of clients from growing it without limit.
constexpr long session_cache_size = 4096;

// The five paths in the seed's order, and whether a client uses each.
struct path_key {
  std::string_view name;
  std::string tls_paths::*member;
  bool client_uses;
};

constexpr std::array<path_key, 5> path_keys{{
    {"tlsCaPath", &tls_paths::ca, true},
    {"tlsSvrCertPath", &tls_paths::server_cert, false},
    {"tlsSvrKeyPath", &tls_paths::server_key, false},
    {"tlsCliCertPath", &tls_paths::client_cert, true},
    {"tlsCliKeyPath", &tls_paths::client_key, true},
}};

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items)
    text += (text.empty() ? "" : ", ") + item;
  return text;
}

void add_problem(config& cfg, config_problem::severity level, std::string_view key,
                 std::string message) {
  cfg.add_problem(cfg.problem_about(key, level, std::move(message)));
}

void add_error(config& cfg, std::string_view key, std::string message) {
  add_problem(cfg, config_problem::severity::error, key, std::move(message));
}

tls_paths read_paths(const config& cfg) {
  tls_paths paths;
  for (const auto& key : path_keys)
    paths.*key.member = cfg.get_string(key.name);
  return paths;
}

std::string needed_paths(node_role role) {
  return role == node_role::node
             ? "a node needs all five of tlsCaPath, tlsSvrCertPath, tlsSvrKeyPath, "
               "tlsCliCertPath and tlsCliKeyPath"
             : "a client needs all three of tlsCaPath, tlsCliCertPath and tlsCliKeyPath";
}

// The seed's start-up constraints on enableTLS and the paths. Returns whether they hold.
bool check_constraints(config& cfg, node_role role, bool enabled, const tls_paths& paths) {
  std::vector<std::string> given;  // "tlsCaPath (file taos.cfg:3)"
  std::vector<std::string> missing;
  for (const auto& key : path_keys) {
    if (role == node_role::client && !key.client_uses) continue;
    if ((paths.*key.member).empty()) {
      missing.emplace_back(key.name);
    } else {
      given.push_back(std::string(key.name) + " (" + cfg.origin_of(key.name) + ")");
    }
  }

  if (enabled && given.empty()) {
    add_error(cfg, "enableTLS",
              "is 1 but no TLS path is set: " + needed_paths(role) +
                  "; set them (docs/tls.md shows how to make the files), or set enableTLS 0 "
                  "to run without TLS");
    return false;
  }
  if (!missing.empty() && !given.empty()) {
    add_error(cfg, missing.front(),
              "is not set: " + needed_paths(role) + " or none (missing: " + join(missing) +
                  "; given: " + join(given) +
                  "); set the missing ones, or remove the given ones to run without TLS");
  }
  if (!enabled && !given.empty()) {
    const auto first_given = given.front().substr(0, given.front().find(' '));
    add_error(cfg, first_given,
              "is set but enableTLS is 0" +
                  std::string(cfg.is_set("enableTLS") ? "" : " (the default)") +
                  ", so TLS paths are given with TLS off (given: " + join(given) +
                  "); set enableTLS 1 to use TLS, or remove the TLS paths to run without it");
  }
  return enabled && missing.empty();
}

// Adds the preflight's problems to the config; returns whether none is an error.
bool report_file_problems(config& cfg, std::vector<config_problem> problems) {
  bool ok = true;
  for (auto& problem : problems) {
    ok = ok && problem.level != config_problem::severity::error;
    cfg.add_problem(cfg.problem_about(problem.key, problem.level, std::move(problem.message)));
  }
  return ok;
}

context_ptr new_context(config& cfg, asio::ssl::context::method method) {
  try {
    return std::make_shared<asio::ssl::context>(method);
  } catch (const std::exception& e) {
    add_error(cfg, "enableTLS", std::string("OpenSSL could not make a TLS context: ") + e.what());
    return nullptr;
  }
}

// What both contexts share: the protocol floor, options, ciphers, memory mode and trust.
bool apply_common_settings(config& cfg, SSL_CTX* ctx, const std::string& ca_path) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection then holds no read or write buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Never prompt on a terminal; the preflight has already refused encrypted keys.
  SSL_CTX_set_default_passwd_cb(ctx, detail::refuse_passphrase);

  if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
    add_error(cfg, "enableTLS",
              "this OpenSSL offers none of the TLS 1.2 cipher suites strait allows (" +
                  std::string(tls12_ciphers) + "): " + drain_openssl_errors());
    return false;
  }
  if (SSL_CTX_load_verify_locations(ctx, ca_path.c_str(), nullptr) != 1) {
    add_error(
        cfg, "tlsCaPath",
        in_quotes(ca_path) + " could not be loaded as the trusted CA: " + drain_openssl_errors());
    return false;
  }
  return true;
}

// Loads a certificate chain and its key into `ctx`.
bool load_identity(config& cfg, SSL_CTX* ctx, std::string_view cert_key,
                   const std::string& cert_path, std::string_view key_key,
                   const std::string& key_path) {
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_path.c_str()) != 1) {
    add_error(cfg, cert_key,
              in_quotes(cert_path) + " could not be loaded: " + drain_openssl_errors());
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_path.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    add_error(cfg, key_key,
              in_quotes(key_path) + " could not be loaded: " + drain_openssl_errors());
    return false;
  }
  return true;
}

context_ptr make_server_context(config& cfg, const tls_paths& paths) {
  auto context = new_context(cfg, asio::ssl::context::tls_server);
  if (!context) return nullptr;
  SSL_CTX* ctx = context->native_handle();
  if (!apply_common_settings(cfg, ctx, paths.ca) ||
      !load_identity(cfg, ctx, "tlsSvrCertPath", paths.server_cert, "tlsSvrKeyPath",
                     paths.server_key)) {
    return nullptr;
  }

  // Mutual TLS: a peer without a certificate that chains to the CA is refused.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  // Tells the peer which CA its certificate must come from.
  STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(paths.ca.c_str());
  if (ca_names == nullptr) {
    add_error(cfg, "tlsCaPath",
              in_quotes(paths.ca) + " gave no CA name to send to peers: " + drain_openssl_errors());
    return nullptr;
  }
  SSL_CTX_set_client_CA_list(ctx, ca_names);

  // Resumption: OpenSSL refuses to resume a verified session without a session id context.
  static constexpr unsigned char session_id_context[] = {'s', 't', 'r', 'a', 'i', 't'};
  SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof session_id_context);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, session_cache_size);
  return context;
}

context_ptr make_client_context(config& cfg, const tls_paths& paths) {
  auto context = new_context(cfg, asio::ssl::context::tls_client);
  if (!context) return nullptr;
  SSL_CTX* ctx = context->native_handle();
  if (!apply_common_settings(cfg, ctx, paths.ca) ||
      !load_identity(cfg, ctx, "tlsCliCertPath", paths.client_cert, "tlsCliKeyPath",
                     paths.client_key)) {
    return nullptr;
  }
  // The node's certificate must chain to the CA.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  enable_session_resumption(*context);
  return context;
}

// With tlsVerifyPeerName on, every peer that dials this node checks the names of its server
// certificate, the node's own links included; a certificate without names fails them all.
void warn_if_server_has_no_names(config& cfg, asio::ssl::context& server) {
  const auto identity = identity_of_certificate(SSL_CTX_get0_certificate(server.native_handle()));
  if (!identity.dns_names.empty() || !identity.ip_addresses.empty()) return;
  add_problem(cfg, config_problem::severity::warning, "tlsVerifyPeerName",
              "is 1 but the certificate in tlsSvrCertPath (" + identity.subject +
                  ") has no subjectAltName, so every peer that checks names will refuse this "
                  "node, its own links included; make it with subjectAltName (docs/tls.md) or "
                  "set tlsVerifyPeerName 0");
}

}  // namespace

tls_config tls_config::from_config(config& cfg, node_role role, tls_check_options options) {
  const auto paths = read_paths(cfg);
  const bool enabled = cfg.get_bool("enableTLS");
  bool ok = check_constraints(cfg, role, enabled, paths);
  if (!enabled) return {};

  // Every given file is checked even when some path is missing, so that one start-up attempt
  // lists everything that is wrong.
  ok = report_file_problems(cfg, check_tls_files(paths, role, options)) && ok;
  if (!ok) return {};

  tls_config tls;
  tls.paths_ = paths;
  tls.verify_peer_name_ = cfg.get_bool("tlsVerifyPeerName");
  if (role == node_role::node) {
    tls.server_ = make_server_context(cfg, paths);
    if (!tls.server_) return {};
    if (tls.verify_peer_name_) warn_if_server_has_no_names(cfg, *tls.server_);
  }
  tls.client_ = make_client_context(cfg, paths);
  if (!tls.client_) return {};
  return tls;
}

namespace {

std::string ip_text(const ASN1_OCTET_STRING* address) {
  const unsigned char* bytes = ASN1_STRING_get0_data(address);
  const int length = ASN1_STRING_length(address);
  char text[INET6_ADDRSTRLEN] = {};
  const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
  if (family == AF_UNSPEC || inet_ntop(family, bytes, text, sizeof text) == nullptr) {
    return "(an IP entry of " + std::to_string(length) + " bytes)";
  }
  return text;
}

void add_subject_alt_names(const X509* certificate, peer_identity& identity) {
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const auto* data = ASN1_STRING_get0_data(name->d.dNSName);
      identity.dns_names.emplace_back(
          reinterpret_cast<const char*>(data),
          static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD) {
      identity.ip_addresses.push_back(ip_text(name->d.iPAddress));
    }
  }
  GENERAL_NAMES_free(names);
}

std::string sha256_fingerprint(const X509* certificate) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (X509_digest(certificate, EVP_sha256(), digest, &length) != 1) return {};
  std::string text;
  for (unsigned int i = 0; i < length; ++i) {
    char pair[4];
    std::snprintf(pair, sizeof pair, i == 0 ? "%02X" : ":%02X", digest[i]);
    text += pair;
  }
  return text;
}

}  // namespace

peer_identity identity_of_certificate(const X509* certificate) {
  peer_identity identity;
  if (certificate == nullptr) return identity;
  identity.subject = detail::name_line(X509_get_subject_name(certificate));
  add_subject_alt_names(certificate, identity);
  identity.sha256_fingerprint = sha256_fingerprint(certificate);
  return identity;
}

peer_identity identity_of(const SSL* ssl) {
  if (ssl == nullptr) return {};
  return identity_of_certificate(SSL_get0_peer_certificate(ssl));
}

std::string peer_identity::to_string() const {
  if (subject.empty() && sha256_fingerprint.empty()) return "no certificate";
  return (subject.empty() ? "no subject" : subject) + " sha256=" + sha256_fingerprint;
}

namespace {

// An IP address in binary form; IPv4-mapped IPv6 addresses are taken as IPv4.
struct ip_address {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
  bool operator==(const ip_address&) const = default;
};

std::optional<ip_address> parse_ip(std::string_view text) {
  std::string host(text.substr(0, text.find('%')));  // a zone id does not take part
  ip_address address;
  if (inet_pton(AF_INET, host.c_str(), address.bytes.data()) == 1) {
    address.family = AF_INET;
    return address;
  }
  if (inet_pton(AF_INET6, host.c_str(), address.bytes.data()) != 1) return std::nullopt;
  static constexpr std::array<unsigned char, 12> mapped_prefix{0, 0, 0, 0, 0,    0,
                                                               0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(mapped_prefix.begin(), mapped_prefix.end(), address.bytes.begin())) {
    std::copy_n(address.bytes.begin() + 12, 4, address.bytes.begin());
    std::fill(address.bytes.begin() + 4, address.bytes.end(), 0);
    address.family = AF_INET;
    return address;
  }
  address.family = AF_INET6;
  return address;
}

std::string lower_without_final_dot(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  std::string lower(name);
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// RFC 6125: case-insensitive, and a wildcard stands for exactly one whole leftmost label.
bool dns_name_matches(std::string_view pattern_text, std::string_view host_text) {
  const auto pattern = lower_without_final_dot(pattern_text);
  const auto host = lower_without_final_dot(host_text);
  if (!pattern.starts_with("*.")) return !pattern.empty() && pattern == host;
  const auto suffix = std::string_view(pattern).substr(1);  // ".example.com"
  const auto first_dot = host.find('.');
  return suffix.find('.', 1) != std::string_view::npos && first_dot != 0 &&
         first_dot != std::string::npos && std::string_view(host).substr(first_dot) == suffix;
}

// "[::1]" -> "::1"; anything else unchanged.
std::string_view without_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// The host part when `dialled` looks like "host:port" or "[v6]:port"; empty otherwise.
std::string host_before_port(std::string_view dialled) {
  const auto colon = dialled.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == dialled.size()) return {};
  const auto port = dialled.substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return {};
  }
  const auto host = dialled.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) return std::string(host);
  if (host.find(':') != std::string_view::npos) return {};  // a bare IPv6 literal
  return std::string(host);
}

std::string names_of(const peer_identity& peer) {
  std::vector<std::string> names;
  for (const auto& name : peer.dns_names)
    names.push_back("DNS:" + name);
  for (const auto& address : peer.ip_addresses)
    names.push_back("IP:" + address);
  return join(names);
}

bool matches(const peer_identity& peer, std::string_view host) {
  if (const auto address = parse_ip(host)) {
    return std::any_of(peer.ip_addresses.begin(), peer.ip_addresses.end(),
                       [&](const std::string& entry) { return parse_ip(entry) == address; });
  }
  return std::any_of(peer.dns_names.begin(), peer.dns_names.end(),
                     [&](const std::string& entry) { return dns_name_matches(entry, host); });
}

// What is probably wrong when `host` is not among the certificate's names.
std::string mismatch_advice(const peer_identity& peer, std::string_view dialled,
                            std::string_view host) {
  std::string advice;
  if (const auto address = parse_ip(host)) {
    for (const auto& entry : peer.dns_names) {
      if (parse_ip(entry) != address) continue;
      advice += "; the certificate lists " + entry + " as a DNS name (DNS:" + entry +
                "), but an address is matched only against IP entries: make the certificate "
                "with subjectAltName IP:" +
                entry;
    }
  }
  if (const auto before_port = host_before_port(dialled); !before_port.empty()) {
    advice += "; " + in_quotes(dialled) + " includes a port: check the host alone (" +
              in_quotes(before_port) + ")";
  }
  if (peer.dns_names.empty() && peer.ip_addresses.empty()) {
    advice +=
        "; it has no subjectAltName (as certificates made with the seed's commands), "
        "and names are checked only against subjectAltName: make it with subjectAltName "
        "(docs/tls.md), or set tlsVerifyPeerName 0";
  }
  return advice;
}

}  // namespace

std::string check_peer_name(const peer_identity& peer, const std::string& dialled_host) {
  const auto host = without_brackets(dialled_host);
  if (!host.empty() && matches(peer, host)) return {};

  const auto names = names_of(peer);
  return "the certificate of the node (" + (peer.subject.empty() ? "no subject" : peer.subject) +
         ") does not name " + in_quotes(dialled_host) + ": it names " +
         (names.empty() ? "nothing" : names) + mismatch_advice(peer, dialled_host, host);
}

std::string drain_openssl_errors(std::string_view fallback) {
  std::string text;
  const char* data = nullptr;
  int flags = 0;
  while (const unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (!text.empty()) text += "; ";
    if (const char* reason = ERR_reason_error_string(code)) {
      text += reason;
    } else {
      char number[32];
      std::snprintf(number, sizeof number, "OpenSSL error %08lX", code);
      text += number;
    }
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && *data != '\0') {
      text += " (" + std::string(data) + ")";
    }
  }
  return text.empty() ? std::string(fallback) : text;
}

}  // namespace strait
