// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the TLS preflight and the context set-up; private to strait_tls.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

namespace strait::detail {

// Frees an OpenSSL object of any of the types strait holds.
struct openssl_free {
  void operator()(X509* p) const noexcept { X509_free(p); }
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
  void operator()(BIO* p) const noexcept { BIO_free(p); }
  void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_free(p); }
};

template <class T>
using openssl_ptr = std::unique_ptr<T, openssl_free>;

// A pem_password_cb that always fails: strait takes unencrypted keys only, and OpenSSL's
// default would prompt on the terminal of a daemon.
int refuse_passphrase(char* buffer, int size, int rwflag, void* user_data);

// "CN=Client" or "O=Example,CN=node1": the name in certificate order, RFC 2253 escaping.
std::string name_line(const X509_NAME* name);

}  // namespace strait::detail
