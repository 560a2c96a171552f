// SPDX-License-Identifier: Apache-2.0
// Everything about the TLS files that can be found out before a socket opens. Each check says
// which key, which file and what to do, because the alternative is a handshake failure on the
// first connection with a one-word OpenSSL reason.
#include "tls_preflight.hpp"

#include <strait/tls.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace strait {
namespace detail {

int refuse_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*user_data*/) {
  return -1;
}

std::string name_line(const X509_NAME* name) {
  openssl_ptr<BIO> out(BIO_new(BIO_s_mem()));
  if (!out || name == nullptr) return {};
  // RFC 2253 escaping, but in the order the certificate lists the name, as `openssl x509
  // -subject` shows it.
  const unsigned long flags = XN_FLAG_RFC2253 & ~XN_FLAG_DN_REV;
  if (X509_NAME_print_ex(out.get(), name, 0, flags) < 0) return {};
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::openssl_ptr;
using certificate_list = std::vector<openssl_ptr<X509>>;

// Certificate and key files larger than this are not read: a large CA bundle is a few hundred
// kilobytes, so anything bigger is the wrong file.
constexpr std::size_t max_file_bytes = 4 * 1024 * 1024;

std::string in_quotes(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

std::string subject_of(const X509* certificate) {
  std::string name = detail::name_line(X509_get_subject_name(certificate));
  return name.empty() ? "no subject" : name;
}

std::string issuer_of(const X509* certificate) {
  std::string name = detail::name_line(X509_get_issuer_name(certificate));
  return name.empty() ? "no issuer" : name;
}

std::string utc_text(std::time_t time) {
  std::tm parts{};
  gmtime_r(&time, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

std::optional<std::time_t> to_time(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return std::nullopt;
  return timegm(&parts);
}

// The labels of a text's PEM blocks ("CERTIFICATE", "PRIVATE KEY", ...), in order.
std::vector<std::string> pem_labels(std::string_view text) {
  constexpr std::string_view begin = "-----BEGIN ";
  std::vector<std::string> labels;
  for (auto at = text.find(begin); at != std::string_view::npos; at = text.find(begin, at + 1)) {
    const auto start = at + begin.size();
    const auto end = text.find("-----", start);
    const auto line_end = text.find('\n', start);
    if (end == std::string_view::npos || end > line_end) continue;
    labels.emplace_back(text.substr(start, end - start));
  }
  return labels;
}

bool is_certificate_label(std::string_view label) {
  return label == "CERTIFICATE" || label == "X509 CERTIFICATE";
}

bool is_encrypted_key_label(std::string_view label) {
  return label == "ENCRYPTED PRIVATE KEY";
}

bool is_private_key_label(std::string_view label) {
  return label.ends_with("PRIVATE KEY") && !is_encrypted_key_label(label);
}

std::string what_label_holds(std::string_view label) {
  if (is_certificate_label(label) || label == "TRUSTED CERTIFICATE") return "a certificate";
  if (is_encrypted_key_label(label)) return "an encrypted private key";
  if (is_private_key_label(label)) return "a private key";
  if (label.ends_with("CERTIFICATE REQUEST")) return "a certificate signing request (CSR)";
  if (label.ends_with("PUBLIC KEY")) return "a public key";
  if (label.ends_with("PARAMETERS")) return "key parameters";
  if (label == "X509 CRL") return "a certificate revocation list";
  return "a \"" + std::string(label) + "\" block";
}

// "a private key and key parameters": what the blocks of a file hold, each kind once.
std::string contents_of(const std::vector<std::string>& labels) {
  std::vector<std::string> kinds;
  for (const auto& label : labels) {
    auto kind = what_label_holds(label);
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
  }
  std::string text;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) text += i + 1 == kinds.size() ? " and " : ", ";
    text += kinds[i];
  }
  return text;
}

template <class Predicate>
bool any_label(const std::vector<std::string>& labels, Predicate predicate) {
  return std::any_of(labels.begin(), labels.end(), predicate);
}

// One certificate and its private key, and the keys that name their files.
struct pair_spec {
  std::string_view cert_key;
  const std::string& cert_path;
  std::string_view key_key;
  const std::string& key_path;
  int purpose;           // X509_PURPOSE_SSL_SERVER or X509_PURPOSE_SSL_CLIENT
  std::string_view use;  // "server" or "client", for messages
};

class preflight {
 public:
  preflight(const tls_check_options& options, const std::string& ca_path)
      : ca_path_(ca_path), expiry_warning_(options.expiry_warning) {
    const auto now = options.now == std::chrono::system_clock::time_point{}
                         ? std::chrono::system_clock::now()
                         : options.now;
    now_ = std::chrono::system_clock::to_time_t(now);
  }

  // The CA file's certificates, when it holds at least one CA certificate.
  std::optional<certificate_list> check_ca();
  // `ca` is null when the CA file is missing or unusable: the chain is then not checked.
  void check_pair(const pair_spec& pair, const certificate_list* ca);

  std::vector<config_problem> take_problems() { return std::move(problems_); }

 private:
  std::optional<std::string> read(std::string_view key, const std::string& path);
  certificate_list read_certificates(std::string_view key, const std::string& path,
                                     std::string_view key_key);
  openssl_ptr<EVP_PKEY> read_private_key(std::string_view key, const std::string& path,
                                         std::string_view cert_key);
  void check_validity(std::string_view key, const std::string& path, const X509* certificate);
  void check_chain(const pair_spec& pair, const certificate_list& certificates,
                   const certificate_list& ca);
  void check_key_matches(const pair_spec& pair, X509* certificate, EVP_PKEY* key);

  void add(config_problem::severity level, std::string_view key, std::string message) {
    problems_.push_back({.level = level,
                         .origin = {},
                         .line = 0,
                         .key = std::string(key),
                         .message = std::move(message)});
  }
  void error(std::string_view key, std::string message) {
    add(config_problem::severity::error, key, std::move(message));
  }
  void warning(std::string_view key, std::string message) {
    add(config_problem::severity::warning, key, std::move(message));
  }

  const std::string& ca_path_;
  std::time_t now_ = 0;
  std::chrono::hours expiry_warning_;
  std::vector<config_problem> problems_;
};

std::string relative_path_note(const std::string& path) {
  if (fs::path(path).is_absolute()) return {};
  boost::system::error_code ignored;
  return " (a relative path is taken from the working directory, " +
         in_quotes(fs::current_path(ignored).string()) + ")";
}

std::optional<std::string> preflight::read(std::string_view key, const std::string& path) {
  boost::system::error_code ec;
  const auto status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    error(key, in_quotes(path) + " does not exist" + relative_path_note(path));
    return std::nullopt;
  }
  if (fs::is_directory(status)) {
    error(key, in_quotes(path) + " is a directory; give the path of the file itself");
    return std::nullopt;
  }
  // A FIFO would block start-up forever and a device would be read without end.
  if (!fs::is_regular_file(status)) {
    error(key, in_quotes(path) +
                   " is not a regular file (a pipe, socket or device); give the path of the "
                   "certificate or key file itself");
    return std::nullopt;
  }

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file) {
    const auto reason = std::error_code(errno, std::generic_category()).message();
    error(key, in_quotes(path) + " cannot be read: " + reason +
                   " (the user strait runs as needs read permission on it)");
    return std::nullopt;
  }

  std::string text;
  char buffer[8192];
  while (const auto n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > max_file_bytes) {
      error(key, in_quotes(path) + " is larger than " + std::to_string(max_file_bytes) +
                     " bytes, too large for a certificate or key file; is it the right file?");
      return std::nullopt;
    }
  }
  if (std::ferror(file.get())) {
    const auto reason = std::error_code(errno, std::generic_category()).message();
    error(key, in_quotes(path) + " cannot be read: " + reason);
    return std::nullopt;
  }
  if (text.empty()) {
    error(key, in_quotes(path) + " is empty");
    return std::nullopt;
  }
  return text;
}

std::string not_pem_message(const std::string& path, std::string_view text,
                            std::string_view expected) {
  std::string message = in_quotes(path) +
                        " is not a PEM file: it has no \"-----BEGIN\" line, so it cannot hold " +
                        std::string(expected);
  // A DER structure starts with an ASN.1 SEQUENCE tag.
  if (!text.empty() && static_cast<unsigned char>(text.front()) == 0x30) {
    const bool certificate = expected.find("certificate") != std::string_view::npos;
    message += "; it looks like DER (binary), convert it with \"openssl " +
               std::string(certificate ? "x509" : "pkey") + " -inform der -in " + path + " -out " +
               path + ".pem\"";
  }
  return message;
}

certificate_list preflight::read_certificates(std::string_view key, const std::string& path,
                                              std::string_view key_key) {
  const auto text = read(key, path);
  if (!text) return {};
  const auto labels = pem_labels(*text);
  if (labels.empty()) {
    error(key, not_pem_message(path, *text, "a certificate"));
    return {};
  }

  const auto blocks =
      static_cast<std::size_t>(std::count_if(labels.begin(), labels.end(), is_certificate_label));
  if (blocks == 0) {
    std::string message = in_quotes(path) + " holds " + contents_of(labels) + ", not a certificate";
    if (any_label(labels, is_private_key_label) && !key_key.empty()) {
      message += "; the certificate goes in " + std::string(key) + " and its private key in " +
                 std::string(key_key) + " (are the two swapped?)";
    } else if (any_label(labels, [](const auto& l) { return l.ends_with("REQUEST"); })) {
      message += "; the CA must sign the request to make the certificate (see docs/tls.md)";
    }
    error(key, std::move(message));
    return {};
  }

  openssl_ptr<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  certificate_list certificates;
  while (bio && certificates.size() < blocks) {
    X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, detail::refuse_passphrase, nullptr);
    if (certificate == nullptr) break;
    certificates.emplace_back(certificate);
  }
  if (certificates.size() < blocks) {
    error(key, in_quotes(path) + ": certificate " + std::to_string(certificates.size() + 1) +
                   " of " + std::to_string(blocks) + " does not parse: " + drain_openssl_errors());
    return {};
  }
  return certificates;
}

openssl_ptr<EVP_PKEY> preflight::read_private_key(std::string_view key, const std::string& path,
                                                  std::string_view cert_key) {
  const auto text = read(key, path);
  if (!text) return nullptr;
  const auto labels = pem_labels(*text);
  if (labels.empty()) {
    error(key, not_pem_message(path, *text, "a private key"));
    return nullptr;
  }

  // Both PEM forms of an encrypted key: PKCS#8 and the legacy header of "RSA PRIVATE KEY" and
  // "EC PRIVATE KEY" blocks.
  if (any_label(labels, is_encrypted_key_label) ||
      text->find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    error(key, in_quotes(path) +
                   " holds an encrypted private key; strait takes unencrypted PEM keys only and "
                   "never asks for a passphrase. Decrypt it once (\"openssl pkey -in " +
                   path +
                   " -out NEW.key\") and protect the file with permissions instead: "
                   "readable only by the user strait runs as (chmod 600)");
    return nullptr;
  }
  if (!any_label(labels, is_private_key_label)) {
    std::string message = in_quotes(path) + " holds " + contents_of(labels) + ", not a private key";
    if (any_label(labels, is_certificate_label) && !cert_key.empty()) {
      message += "; the private key goes in " + std::string(key) + " and its certificate in " +
                 std::string(cert_key) + " (are the two swapped?)";
    }
    error(key, std::move(message));
    return nullptr;
  }

  openssl_ptr<BIO> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  openssl_ptr<EVP_PKEY> private_key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, detail::refuse_passphrase, nullptr)
          : nullptr);
  if (!private_key) {
    error(key, in_quotes(path) + ": the private key does not parse: " + drain_openssl_errors());
  }
  return private_key;
}

void preflight::check_validity(std::string_view key, const std::string& path,
                               const X509* certificate) {
  const auto not_before = to_time(X509_get0_notBefore(certificate));
  const auto not_after = to_time(X509_get0_notAfter(certificate));
  const auto named = in_quotes(path) + " (" + subject_of(certificate) + ")";
  if (!not_before || !not_after) {
    error(key, named + " has a validity date that does not parse");
    return;
  }

  if (*not_before > now_) {
    error(key, named + " is not valid yet: its validity starts " + utc_text(*not_before) +
                   " and it is now " + utc_text(now_) +
                   " on this host; check this host's clock, or use a certificate valid now");
  } else if (*not_after < now_) {
    error(key, named + " expired " + utc_text(*not_after) + " (it is now " + utc_text(now_) +
                   " on this host); renew it");
  } else if (*not_after - now_ < std::chrono::seconds(expiry_warning_).count()) {
    const auto days = (*not_after - now_) / (24 * 60 * 60);
    warning(key, named + " expires " + utc_text(*not_after) + ", in " + std::to_string(days) +
                     (days == 1 ? " day" : " days") + "; renew it before then");
  }
}

std::optional<certificate_list> preflight::check_ca() {
  auto certificates = read_certificates("tlsCaPath", ca_path_, {});
  if (certificates.empty()) return std::nullopt;
  for (const auto& certificate : certificates) {
    check_validity("tlsCaPath", ca_path_, certificate.get());
  }

  const bool has_ca = std::any_of(certificates.begin(), certificates.end(),
                                  [](const auto& c) { return X509_check_ca(c.get()) == 1; });
  if (!has_ca) {
    const auto which =
        certificates.size() == 1
            ? "its certificate (" + subject_of(certificates.front().get()) + ") is not"
            : "none of its " + std::to_string(certificates.size()) + " certificates is";
    error("tlsCaPath", in_quotes(ca_path_) + " holds no CA certificate: " + which +
                           " marked CA:TRUE in basicConstraints. tlsCaPath names the certificate "
                           "of the CA that signed the node and client certificates (ca.crt in "
                           "docs/tls.md), not a node or client certificate");
    return std::nullopt;
  }
  return certificates;
}

std::string verify_hint(int code, std::string_view use) {
  switch (code) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "; its issuer is not the CA in that file: give the CA that signed it as tlsCaPath, "
             "or sign it again with this CA";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return "; the signature does not check: it was signed by another key under the same CA "
             "name, or the file is damaged";
    case X509_V_ERR_INVALID_PURPOSE:
      return "; its extendedKeyUsage does not allow TLS " + std::string(use) +
             " authentication (it needs " + (use == "server" ? "serverAuth" : "clientAuth") + ")";
    case X509_V_ERR_INVALID_CA:
      return "; a certificate of its chain is used as a CA but is not marked CA:TRUE";
    default:
      return {};
  }
}

void preflight::check_chain(const pair_spec& pair, const certificate_list& certificates,
                            const certificate_list& ca) {
  openssl_ptr<X509_STORE> store(X509_STORE_new());
  openssl_ptr<STACK_OF(X509)> intermediates(sk_X509_new_null());
  openssl_ptr<X509_STORE_CTX> context(X509_STORE_CTX_new());
  bool ready = store && intermediates && context;
  for (const auto& certificate : ca) {
    ready = ready && X509_STORE_add_cert(store.get(), certificate.get()) == 1;
  }
  // The certificates after the first one of a chain file are intermediates.
  for (std::size_t i = 1; i < certificates.size(); ++i) {
    ready = ready && sk_X509_push(intermediates.get(), certificates[i].get()) > 0;
  }
  X509* leaf = certificates.front().get();
  if (!ready || X509_STORE_CTX_init(context.get(), store.get(), leaf, intermediates.get()) != 1) {
    error(pair.cert_key, in_quotes(pair.cert_path) +
                             " could not be checked against the CA: " + drain_openssl_errors());
    return;
  }

  // The purpose is what the peer will check; validity dates are checked per file above, with
  // the dates in the message.
  X509_STORE_CTX_set_purpose(context.get(), pair.purpose);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(context.get()), X509_V_FLAG_NO_CHECK_TIME);
  if (X509_verify_cert(context.get()) == 1) return;

  const int code = X509_STORE_CTX_get_error(context.get());
  std::string message = in_quotes(pair.cert_path) + " (" + subject_of(leaf) + ", issued by " +
                        issuer_of(leaf) + ") does not verify against the CA in tlsCaPath " +
                        in_quotes(ca_path_) + ": ";
  message += code == X509_V_OK ? drain_openssl_errors() : X509_verify_cert_error_string(code);
  const int depth = X509_STORE_CTX_get_error_depth(context.get());
  if (const X509* at = X509_STORE_CTX_get_current_cert(context.get()); at && depth > 0) {
    message += " (at depth " + std::to_string(depth) + ", " + subject_of(at) + ")";
  }
  error(pair.cert_key, message + verify_hint(code, pair.use));
}

void preflight::check_key_matches(const pair_spec& pair, X509* certificate, EVP_PKEY* key) {
  if (X509_check_private_key(certificate, key) == 1) return;
  const auto reason = drain_openssl_errors("the public keys differ");
  error(pair.key_key, in_quotes(pair.key_path) + " does not match the certificate in " +
                          std::string(pair.cert_key) + " " + in_quotes(pair.cert_path) + " (" +
                          subject_of(certificate) + "): " + reason +
                          "; give the key that was made together with that certificate");
}

void preflight::check_pair(const pair_spec& pair, const certificate_list* ca) {
  certificate_list certificates;
  if (!pair.cert_path.empty()) {
    certificates = read_certificates(pair.cert_key, pair.cert_path, pair.key_key);
  }
  for (const auto& certificate : certificates) {
    check_validity(pair.cert_key, pair.cert_path, certificate.get());
  }
  if (!certificates.empty() && ca != nullptr) check_chain(pair, certificates, *ca);

  if (pair.key_path.empty()) return;
  const auto key = read_private_key(pair.key_key, pair.key_path, pair.cert_key);
  if (key && !certificates.empty()) {
    check_key_matches(pair, certificates.front().get(), key.get());
  }
}

}  // namespace

std::vector<config_problem> check_tls_files(const tls_paths& paths, node_role role,
                                            const tls_check_options& options) {
  preflight check(options, paths.ca);
  std::optional<certificate_list> ca;
  if (!paths.ca.empty()) ca = check.check_ca();
  const certificate_list* trusted = ca ? &*ca : nullptr;

  if (role == node_role::node) {
    check.check_pair({"tlsSvrCertPath", paths.server_cert, "tlsSvrKeyPath", paths.server_key,
                      X509_PURPOSE_SSL_SERVER, "server"},
                     trusted);
  }
  check.check_pair({"tlsCliCertPath", paths.client_cert, "tlsCliKeyPath", paths.client_key,
                    X509_PURPOSE_SSL_CLIENT, "client"},
                   trusted);
  return check.take_problems();
}

}  // namespace strait
