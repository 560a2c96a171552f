// SPDX-License-Identifier: Apache-2.0
#include <strait/tls.hpp>

#include <openssl/ssl.h>

namespace strait {
namespace {

// What a connection's SSL object carries for the new-session callback: which cache to store
// into and under which node. Freed by OpenSSL with the SSL object.
struct session_slot {
  std::weak_ptr<tls_session_cache> cache;
  std::string node;
};

void free_slot(void*, void* slot, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<session_slot*>(slot);
}

int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_slot);
  return index;
}

// OpenSSL calls this when the node issues a session (with TLS 1.3, after the handshake, when
// the ticket is read). Returning 1 keeps the reference OpenSSL passes.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<session_slot*>(SSL_get_ex_data(ssl, slot_index()));
  if (!slot || !SSL_SESSION_is_resumable(session)) return 0;
  auto cache = slot->cache.lock();
  if (!cache) return 0;
  cache->store(slot->node, session);
  return 1;
}

}  // namespace

std::shared_ptr<tls_session_cache> tls_session_cache::create() {
  return std::shared_ptr<tls_session_cache>(new tls_session_cache());
}

tls_session_cache::~tls_session_cache() {
  for (auto& [node, session] : sessions_)
    SSL_SESSION_free(session);
}

void tls_session_cache::prepare(SSL* ssl, const std::string& node) {
  {
    std::lock_guard lock(mutex_);
    if (auto it = sessions_.find(node); it != sessions_.end()) SSL_set_session(ssl, it->second);
  }
  auto* slot = new session_slot{weak_from_this(), node};
  if (SSL_set_ex_data(ssl, slot_index(), slot) != 1) delete slot;
}

std::size_t tls_session_cache::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void tls_session_cache::store(const std::string& node, SSL_SESSION* session) {
  std::lock_guard lock(mutex_);
  auto& stored = sessions_[node];
  if (stored) SSL_SESSION_free(stored);
  stored = session;
}

void enable_session_resumption(asio::ssl::context& client_context) {
  SSL_CTX* ctx = client_context.native_handle();
  // OpenSSL's own client cache is not keyed by node; ours is.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

}  // namespace strait
