// SPDX-License-Identifier: Apache-2.0
#include "loopback.hpp"

#include <strait/config.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fstream>
#include <thread>

namespace strait::test_support {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

// A body larger than this from a node under test is a failure of its own, not something to
// read into memory.
constexpr std::uint32_t max_raw_body = 1024 * 1024;

template <class Int>
Int read_big_endian(const std::uint8_t* in) {
  Int value = 0;
  for (std::size_t i = 0; i < sizeof(Int); ++i)
    value = static_cast<Int>((value << 8) | in[i]);
  return value;
}

std::string path_in(const std::string& dir, std::string_view file) {
  return dir + "/" + std::string(file);
}

void set_or_fail(config& cfg, std::string_view key, std::string_view value) {
  auto set = cfg.set(key, value);
  if (!set) ADD_FAILURE() << "cannot set " << key << ": " << set.message();
}

server_options node_options(const node_setup& setup) {
  server_options options;
  options.listen.port = 0;
  if (setup.family == loopback::ipv6) {
    options.listen.ipv6_address = "::1";
    options.listen.ipv6_address_explicit = true;
    options.listen.ipv6_only = true;
  } else {
    options.listen.policy = family_policy::ipv4_only;
  }
  options.tls = make_tls(setup.mode, node_role::node, setup.cert_dir).server_context();
  options.limits = setup.limits;
  options.handshake_timeout = setup.handshake_timeout;
  options.shutdown_timeout = setup.shutdown_timeout;
  return options;
}

client_options caller_options(const client_setup& setup) {
  client_options options;
  options.endpoints = setup.endpoints;
  options.connect.tls = make_tls(setup.mode, node_role::client, setup.cert_dir).client_context();
  options.limits = setup.limits;
  options.call_timeout = setup.call_timeout;
  options.reconnect_delay = setup.reconnect_delay;
  options.connect.handshake_timeout = setup.handshake_timeout;
  options.connections_per_endpoint = setup.connections_per_endpoint;
  return options;
}

}  // namespace

std::string_view address_of(loopback family) noexcept {
  return family == loopback::ipv4 ? "127.0.0.1" : "::1";
}

std::string_view to_string(link_mode mode) noexcept {
  return mode == link_mode::plain ? "plain" : "mutual TLS";
}

std::string test_certs() {
  return STRAIT_TEST_CERTS;
}

std::string seed_certs() {
  return path_in(STRAIT_TEST_CERTS, "seed");
}

tls_config make_tls(link_mode mode, node_role role, const std::string& cert_dir) {
  if (mode == link_mode::plain) return {};
  config cfg;
  set_or_fail(cfg, "enableTLS", "1");
  set_or_fail(cfg, "tlsCaPath", path_in(cert_dir, "ca.crt"));
  set_or_fail(cfg, "tlsCliCertPath", path_in(cert_dir, "client.crt"));
  set_or_fail(cfg, "tlsCliKeyPath", path_in(cert_dir, "client.key"));
  if (role == node_role::node) {
    set_or_fail(cfg, "tlsSvrCertPath", path_in(cert_dir, "server.crt"));
    set_or_fail(cfg, "tlsSvrKeyPath", path_in(cert_dir, "server.key"));
  }
  auto tls = tls_config::from_config(cfg, role);
  if (cfg.has_errors()) ADD_FAILURE() << "TLS from " << cert_dir << ":\n" << cfg.problems_text();
  return tls;
}

endpoint loopback_endpoint(loopback family, std::uint16_t port) {
  return endpoint::from_address(address_of(family), port);
}

std::uint16_t refused_port(loopback family) {
  asio::io_context context;
  tcp::acceptor socket(context, tcp::endpoint(asio::ip::make_address(address_of(family)), 0));
  return socket.local_endpoint().port();
}

// ---------------------------------------------------------------------------------------------

request_handler held_calls::handler() {
  return [this](std::string, responder answer) {
    std::lock_guard lock(mutex_);
    held_.push_back(std::move(answer));
    ++arrivals_;
    arrived_.notify_all();
  };
}

std::size_t held_calls::arrivals() const {
  std::lock_guard lock(mutex_);
  return arrivals_;
}

bool held_calls::wait_for_arrivals(std::size_t count, milliseconds within) {
  std::unique_lock lock(mutex_);
  return arrived_.wait_for(lock, within, [&] { return arrivals_ >= count; });
}

void held_calls::reply_all(const std::string& body) {
  std::vector<responder> answering;
  {
    std::lock_guard lock(mutex_);
    answering.swap(held_);
  }
  for (auto& answer : answering)
    answer.reply(body);
}

void held_calls::drop_all() {
  std::vector<responder> dropping;
  std::lock_guard lock(mutex_);
  dropping.swap(held_);
}

// ---------------------------------------------------------------------------------------------

test_node::test_node(node_setup setup, std::size_t threads)
    : setup_(std::move(setup)),
      threads_(threads),
      server_(std::make_unique<strait::server>(threads_.executor(), node_options(setup_))) {}

test_node::~test_node() {
  server_->stop();
  threads_.stop();
  threads_.join();
  // Held responders post their failure to a context that no longer runs: harmless.
  for (auto& held : held_)
    held->drop_all();
  server_.reset();
}

void test_node::handle(std::uint32_t type, request_handler h) {
  server_->handle(type, std::move(h));
}

held_calls& test_node::hold(std::uint32_t type) {
  held_.push_back(std::make_unique<held_calls>());
  server_->handle(type, held_.back()->handler());
  return *held_.back();
}

::testing::AssertionResult test_node::start() {
  auto started = server_->start();
  if (!started) {
    return ::testing::AssertionFailure()
           << "node on " << address_of(setup_.family) << " did not start: " << started.message();
  }
  return ::testing::AssertionSuccess();
}

endpoint test_node::where() const {
  return loopback_endpoint(setup_.family, server_->port());
}

bool test_node::wait_for_connections(std::size_t count, milliseconds within) const {
  return eventually([&] { return server_->connection_count() == count; }, within);
}

// ---------------------------------------------------------------------------------------------

test_client::test_client(client_setup setup, std::size_t threads)
    : threads_(threads),
      client_(std::make_unique<strait::client>(threads_.executor(), caller_options(setup))) {}

test_client::~test_client() {
  threads_.stop();
  threads_.join();
  client_.reset();
}

std::future<outcome> test_client::start(std::uint32_t type, std::string body,
                                        call_options options) {
  auto promise = std::make_shared<std::promise<outcome>>();
  auto future = promise->get_future();
  client_->async_call(type, std::move(body), options, [this, promise](std::error_code ec, reply r) {
    ++completions_;
    promise->set_value(outcome{true, ec, std::move(r)});
  });
  return future;
}

outcome test_client::call(std::uint32_t type, std::string body, call_options options,
                          milliseconds wait) {
  auto pending = start(type, std::move(body), options);
  return await(pending, wait);
}

void test_client::settle() {
  // A strand that is busy hands on what it was given meanwhile by posting itself again, so
  // one round is not always enough.
  for (int round = 0; round < 4; ++round) {
    std::promise<void> ran;
    asio::post(threads_.executor(), [&ran] { ran.set_value(); });
    if (ran.get_future().wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "the client's thread did not run queued work within 5 s";
      return;
    }
  }
}

outcome await(std::future<outcome>& pending, milliseconds wait) {
  if (pending.wait_for(wait) != std::future_status::ready) return {};
  return pending.get();
}

bool eventually(const std::function<bool()>& condition, milliseconds within) {
  auto deadline = clock::now() + within;
  while (!condition()) {
    if (clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool settles(const std::function<std::size_t()>& value, milliseconds quiet, milliseconds within) {
  auto deadline = clock::now() + within;
  auto last = value();
  auto unchanged_since = clock::now();
  while (clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    auto now_value = value();
    if (now_value != last) {
      last = now_value;
      unchanged_since = clock::now();
    } else if (clock::now() - unchanged_since >= quiet) {
      return true;
    }
  }
  return false;
}

std::size_t kernel_buffer_bytes() {
  // The third field of each is the largest buffer autotuning may reach.
  auto largest = [](const char* path) -> std::size_t {
    std::ifstream file(path);
    std::size_t least = 0, fallback = 0, most = 0;
    if (file >> least >> fallback >> most) return most;
    return 64 * 1024 * 1024;
  };
  return largest("/proc/sys/net/ipv4/tcp_wmem") + largest("/proc/sys/net/ipv4/tcp_rmem");
}

// ---------------------------------------------------------------------------------------------

raw_peer::raw_peer(const endpoint& node, milliseconds within) : socket_(context_) {
  tcp::endpoint target(asio::ip::make_address(node.host()), node.port());
  bool done = false;
  socket_.async_connect(target, [&](boost::system::error_code ec) {
    error_ = ec;
    done = true;
  });
  connected_ = run_until(done, within) && !error_;
}

bool raw_peer::run_until(const bool& done, milliseconds within) {
  context_.restart();
  context_.run_for(within);
  if (done) return true;
  // Out of time: cancel, and let the operation complete with operation_aborted.
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  context_.restart();
  context_.run();
  return false;
}

bool raw_peer::send(std::string_view bytes, milliseconds within) {
  bool done = false;
  asio::async_write(socket_, asio::buffer(bytes), [&](boost::system::error_code ec, std::size_t) {
    error_ = ec;
    done = true;
  });
  return run_until(done, within) && !error_;
}

bool raw_peer::send_frame(wire::frame_header header, std::string_view body, milliseconds within) {
  header.body_size = static_cast<std::uint32_t>(body.size());
  auto bytes = wire::encode(header);
  std::string frame(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  frame += body;
  return send(frame, within);
}

std::optional<raw_frame> raw_peer::read_frame(milliseconds within) {
  auto deadline = clock::now() + within;
  wire::header_bytes bytes{};
  bool done = false;
  asio::async_read(socket_, asio::buffer(bytes), [&](boost::system::error_code ec, std::size_t) {
    error_ = ec;
    done = true;
  });
  if (!run_until(done, within) || error_) return std::nullopt;
  if (!std::equal(wire::magic.begin(), wire::magic.end(), bytes.begin())) return std::nullopt;

  raw_frame frame;
  frame.header.version = bytes[4];
  frame.header.kind = static_cast<wire::frame_kind>(bytes[5]);
  frame.header.flags = read_big_endian<std::uint16_t>(&bytes[6]);
  frame.header.message_type = read_big_endian<std::uint32_t>(&bytes[8]);
  frame.header.body_size = read_big_endian<std::uint32_t>(&bytes[12]);
  frame.header.call_id = read_big_endian<std::uint64_t>(&bytes[16]);
  frame.header.status = read_big_endian<std::uint32_t>(&bytes[24]);
  if (frame.header.body_size > max_raw_body) return std::nullopt;

  frame.body.resize(frame.header.body_size);
  done = false;
  asio::async_read(socket_, asio::buffer(frame.body),
                   [&](boost::system::error_code ec, std::size_t) {
                     error_ = ec;
                     done = true;
                   });
  auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
  if (!run_until(done, std::max(left, 1ms)) || error_) return std::nullopt;
  return frame;
}

bool raw_peer::hello(milliseconds within) {
  if (!send_frame({.kind = wire::frame_kind::hello}, {}, within)) return false;
  auto answer = read_frame(within);
  return answer && answer->header.kind == wire::frame_kind::hello;
}

bool raw_peer::wait_closed(milliseconds within) {
  auto deadline = clock::now() + within;
  while (clock::now() < deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    if (read_frame(std::max(left, 1ms))) {
      ++discarded_;
      continue;
    }
    return error_ && error_ != asio::error::operation_aborted;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

silent_node::silent_node()
    : acceptor_(context_, tcp::endpoint(asio::ip::make_address("::1"), 0)), socket_(context_) {
  accept();
  thread_ = std::thread([this] { context_.run(); });
}

silent_node::~silent_node() {
  context_.stop();
  thread_.join();
}

endpoint silent_node::where() const {
  return loopback_endpoint(loopback::ipv6, acceptor_.local_endpoint().port());
}

void silent_node::accept() {
  acceptor_.async_accept(socket_, [this](boost::system::error_code ec) {
    if (ec) return;
    asio::async_read(socket_, asio::buffer(hello_),
                     [this](boost::system::error_code e, std::size_t) {
                       if (e) return;
                       hello_ = wire::encode({.kind = wire::frame_kind::hello});
                       asio::async_write(socket_, asio::buffer(hello_),
                                         [this](boost::system::error_code w, std::size_t) {
                                           if (!w) discard();
                                         });
                     });
  });
}

void silent_node::discard() {
  socket_.async_read_some(asio::buffer(buffer_), [this](boost::system::error_code ec, std::size_t) {
    if (!ec) discard();
  });
}

std::string raw_header(std::uint8_t version, std::uint8_t kind, std::uint32_t body_size) {
  auto bytes = wire::encode({.body_size = body_size});
  bytes[4] = version;
  bytes[5] = kind;
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace strait::test_support
