// SPDX-License-Identifier: Apache-2.0
#include <strait/connector.hpp>

#include <strait/config.hpp>
#include <strait/tls.hpp>

#include "deadline.hpp"
#include "log_internal.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <optional>

namespace strait {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string show(const tcp::endpoint& address) {
  return endpoint::from_address(address.address().to_string(), address.port()).to_string();
}

long long elapsed_ms(clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(clock::now() - since).count();
}

// State shared by the attempts of one race. Everything runs on the executor of the racing
// coroutine, so no locking is needed.
struct race_state {
  explicit race_state(asio::any_io_executor executor) : wake(executor) {}

  asio::steady_timer wake;  // cancelled by every finished attempt
  std::vector<std::shared_ptr<tcp::socket>> sockets;
  std::vector<tcp::endpoint> addresses;  // of each socket
  std::vector<bool> finished;            // of each socket
  std::optional<tcp::socket> winner;
  std::vector<std::string> failures;
  int pending = 0;
};

asio::awaitable<void> attempt(std::shared_ptr<race_state> race, std::size_t index,
                              tcp::endpoint address, std::string target) {
  auto started = clock::now();
  auto& socket = *race->sockets[index];
  auto [ec] = co_await socket.async_connect(address, asio::as_tuple(asio::use_awaitable));
  --race->pending;
  race->finished[index] = true;

  if (!ec && !race->winner) {
    detail::log(log_level::info, "transport", "connect ", target, " via ", show(address),
                ": connected in ", elapsed_ms(started), " ms");
    race->winner.emplace(std::move(socket));
  } else if (!ec || ec == asio::error::operation_aborted) {
    // Closed by the race: another address won, or the deadline passed.
    boost::system::error_code ignored;
    socket.close(ignored);
    detail::log(log_level::info, "transport", "connect ", target, " via ", show(address),
                ": abandoned after ", elapsed_ms(started), " ms",
                race->winner ? " (another address connected first)" : " (connect deadline)");
  } else {
    detail::log(log_level::info, "transport", "connect ", target, " via ", show(address), ": ",
                ec.message(), " after ", elapsed_ms(started), " ms");
    race->failures.push_back(show(address) + ": " + ec.message());
  }
  race->wake.cancel();
}

void start_attempt(const std::shared_ptr<race_state>& race, const tcp::endpoint& address,
                   const endpoint& target) {
  auto executor = race->wake.get_executor();
  race->sockets.push_back(std::make_shared<tcp::socket>(executor));
  race->addresses.push_back(address);
  race->finished.push_back(false);
  ++race->pending;
  asio::co_spawn(executor, attempt(race, race->sockets.size() - 1, address, target.to_string()),
                 asio::detached);
}

// The losers of a race are closed so that their attempts end now, not at the system's
// connect timeout. Without a winner, the attempts still pending are the ones that never
// answered, and the error lists them.
void cancel_losers(race_state& race) {
  for (std::size_t i = 0; i < race.sockets.size(); ++i) {
    if (race.finished[i]) continue;
    if (!race.winner) race.failures.push_back(show(race.addresses[i]) + ": no answer");
    boost::system::error_code ignored;
    race.sockets[i]->close(ignored);
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts)
    out += (out.empty() ? "" : "; ") + part;
  return out;
}

bool is_wrong_version(const boost::system::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_WRONG_VERSION_NUMBER;
}

result<stream> handshake_failure(const boost::system::error_code& ec, stream::tls_socket& tls,
                                 const endpoint& target, bool timed_out, milliseconds deadline) {
  auto node = target.to_string();
  if (timed_out) {
    return result<stream>::failure(make_error_code(errc::handshake_timeout),
                                   "the TLS handshake with the node at " + node +
                                       " did not finish within " +
                                       std::to_string(deadline.count()) + " ms");
  }
  if (is_wrong_version(ec)) {
    return result<stream>::failure(make_error_code(errc::peer_does_not_speak_tls),
                                   "the node at " + node +
                                       " does not speak TLS; `enableTLS` differs between client "
                                       "and node");
  }
  return result<stream>::failure(make_error_code(errc::tls_handshake_failed),
                                 "TLS handshake with the node at " + node + " failed: " +
                                     ec.message() + explain_tls_failure(ec, tls.native_handle()));
}

asio::awaitable<result<stream>> tls_handshake(tcp::socket socket, const endpoint& target,
                                              const connect_options& options) {
  stream::tls_socket tls(std::move(socket), *options.tls);
  if (target.kind() == endpoint::host_kind::name) {
    // SSL_set_tlsext_host_name is a macro with a C cast; this is the call it stands for.
    SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(target.host().c_str()));
  }

  if (options.sessions) options.sessions->prepare(tls.native_handle(), target.to_string());

  // A node that accepts the connection and never answers must not hold the client: closing
  // the socket ends the handshake with operation_aborted.
  {
    detail::deadline_guard guard(co_await asio::this_coro::executor, options.handshake_timeout,
                                 [&tls] {
                                   boost::system::error_code ignored;
                                   tls.next_layer().close(ignored);
                                 });
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client,
                                             asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return handshake_failure(ec, tls, target, guard.expired(), options.handshake_timeout);
    }
  }

  auto peer = identity_of(tls.native_handle());
  if (options.verify_peer_name) {
    if (auto mismatch = check_peer_name(peer, target.host()); !mismatch.empty()) {
      co_return result<stream>::failure(
          make_error_code(errc::tls_handshake_failed),
          "the node at " + target.to_string() + " is not who was dialled: " + mismatch);
    }
  }
  detail::log(log_level::info, "tls", "connected to ", target.to_string(), " as ", peer.to_string(),
              SSL_session_reused(tls.native_handle()) ? " (resumed)" : "");
  co_return stream(std::move(tls), std::move(peer));
}

// "cannot connect to 127.0.0.1:9: Connection refused" for a single address, or
// "cannot connect to db1:6030 (tried [fd00::1]:6030: ...; 10.0.0.1:6030: ...)".
result<tcp::socket> race_failure(const endpoint& target, const std::vector<std::string>& failures,
                                 bool timed_out, milliseconds deadline) {
  auto name = target.to_string();
  std::string tried;
  if (failures.size() == 1 && failures.front().rfind(name + ": ", 0) == 0) {
    tried = ": " + failures.front().substr(name.size() + 2);
  } else if (!failures.empty()) {
    tried = " (tried " + join(failures) + ")";
  }
  if (timed_out) {
    return result<tcp::socket>::failure(make_error_code(errc::connect_timeout),
                                        "no address of " + name + " answered within " +
                                            std::to_string(deadline.count()) +
                                            " ms (connectTimeoutMs)" + tried);
  }
  return result<tcp::socket>::failure(make_error_code(errc::connect_failed),
                                      "cannot connect to " + name + tried);
}

}  // namespace

std::string explain_tls_failure(const std::error_code& ec, const SSL* ssl) {
  if (std::string_view(ec.category().name()) != "asio.ssl") return "";
  long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (verify != X509_V_OK) {
    return "; this client rejected the node's certificate: " +
           std::string(X509_verify_cert_error_string(verify)) +
           " (tlsCaPath must name the CA that signed the node's tlsSvrCertPath)";
  }
  // OpenSSL numbers the alerts a peer sends from SSL_AD_REASON_OFFSET on.
  auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  if (reason < SSL_AD_REASON_OFFSET) return "";
  return "; the node refused this client's certificate: tlsCliCertPath must be signed by the CA "
         "in the node's tlsCaPath and be valid now, and tlsCliKeyPath must be its key";
}

connect_options connect_options::from_config(const config& cfg, const tls_config& tls) {
  connect_options options;
  options.policy = family_policy_from(cfg);
  options.resolve_timeout = milliseconds(cfg.get_int("resolveTimeoutMs"));
  options.connect_timeout = milliseconds(cfg.get_int("connectTimeoutMs"));
  options.attempt_delay = milliseconds(cfg.get_int("happyEyeballsDelayMs"));
  options.handshake_timeout = milliseconds(cfg.get_int("handshakeTimeoutMs"));
  options.tls = tls.client_context();
  options.verify_peer_name = tls.verify_peer_name();
  if (options.tls) options.sessions = tls_session_cache::create();
  return options;
}

asio::awaitable<result<tcp::socket>> race_connect(const endpoint& target,
                                                  std::vector<tcp::endpoint> addresses,
                                                  const connect_options& options) {
  auto race = std::make_shared<race_state>(co_await asio::this_coro::executor);
  auto deadline = clock::now() + options.connect_timeout;
  std::size_t next = 0;

  while (!race->winner && clock::now() < deadline) {
    if (next < addresses.size()) {
      start_attempt(race, addresses[next++], target);
    } else if (race->pending == 0) {
      break;  // every address has failed
    }
    // Wake when an attempt finishes, when the next address is due, or at the deadline.
    auto wake_at = next < addresses.size()
                       ? std::min(clock::now() + options.attempt_delay, deadline)
                       : deadline;
    race->wake.expires_at(wake_at);
    co_await race->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  cancel_losers(*race);

  if (race->winner) co_return std::move(*race->winner);
  bool timed_out = race->pending > 0 || next < addresses.size();
  co_return race_failure(target, race->failures, timed_out, options.connect_timeout);
}

asio::awaitable<result<stream>> connect(endpoint target, connect_options options) {
  auto addresses = co_await resolve(target, options.policy, options.resolve_timeout);
  if (!addresses) co_return result<stream>::failure(addresses.code(), addresses.message());

  auto socket = co_await race_connect(target, std::move(addresses).value(), options);
  if (!socket) co_return result<stream>::failure(socket.code(), socket.message());

  boost::system::error_code ignored;
  socket->set_option(tcp::no_delay(true), ignored);
  socket->set_option(asio::socket_base::keep_alive(true), ignored);
  if (!options.tls) co_return stream(std::move(socket).value());
  co_return co_await tls_handshake(std::move(socket).value(), target, options);
}

}  // namespace strait
