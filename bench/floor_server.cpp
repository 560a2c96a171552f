// SPDX-License-Identifier: Apache-2.0
// The floor node: one thread, epoll, non-blocking sockets, each frame echoed as it arrives.
// Frames are read into one shared buffer and written back from it; only what the socket does
// not take at once, and a frame that arrives in pieces, is copied into the connection's own
// storage, so that an idle connection holds nothing but its socket and TLS session.

#include "floor.hpp"
#include "process.hpp"
#include "stats.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace strait_bench {
namespace {

constexpr std::size_t shared_buffer_size = 256 * 1024;
// Reads per connection before others get a turn; what is left waits in the ready set.
constexpr int reads_per_turn = 64;
// Past this many queued output bytes a connection is not read until it drains.
constexpr std::size_t output_limit = 64 * 1024 * 1024;

struct chunk {
  std::vector<char> bytes;
  std::size_t offset = 0;
};

struct floor_peer {
  explicit floor_peer(floor_socket s, bool tls) : socket(std::move(s)), handshaking(tls) {}

  floor_socket socket;
  bool handshaking;
  // A frame that arrived in pieces: the bytes so far, sized for the whole frame once its
  // header is known.
  std::vector<char> partial;
  std::size_t partial_used = 0;
  std::deque<chunk> output;
  std::size_t output_bytes = 0;
  std::uint32_t watched = 0;
  bool closed = false;
};

class floor_server {
 public:
  floor_server(family f, SSL_CTX* tls);
  ~floor_server();
  std::uint16_t port() const noexcept { return port_; }
  // Serves until stdin closes.
  void run();

 private:
  void listen_on_loopback();
  void accept_all();
  void on_event(floor_peer& peer, std::uint32_t events);
  void serve(floor_peer& peer);
  bool read_turn(floor_peer& peer);
  void consume_shared(floor_peer& peer, std::size_t size);
  void continue_partial(floor_peer& peer, std::size_t got);
  void echo(floor_peer& peer, const char* frame, std::size_t size);
  void echo_partial(floor_peer& peer);
  void flush(floor_peer& peer);
  void update_interest(floor_peer& peer);
  bool answer_control();
  void drop(int fd);

  family family_;
  SSL_CTX* tls_;
  int listener_ = -1;
  int epoll_ = -1;
  std::uint16_t port_ = 0;
  std::vector<char> shared_;
  std::unordered_map<int, std::unique_ptr<floor_peer>> peers_;
  std::unordered_set<int> ready_;
  std::vector<int> closing_;
};

floor_server::floor_server(family f, SSL_CTX* tls)
    : family_(f), tls_(tls), shared_(shared_buffer_size) {
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) throw bench_error(std::string("epoll_create1: ") + std::strerror(errno));
  listen_on_loopback();
  epoll_event control{EPOLLIN, {.fd = STDIN_FILENO}};
  epoll_ctl(epoll_, EPOLL_CTL_ADD, STDIN_FILENO, &control);
}

floor_server::~floor_server() {
  peers_.clear();
  if (listener_ >= 0) close(listener_);
  if (epoll_ >= 0) close(epoll_);
}

void floor_server::listen_on_loopback() {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family_ == family::v4) {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    length = sizeof *a;
  }
  listener_ = socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int on = 1;
  if (family_ == family::v6) setsockopt(listener_, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      listen(listener_, 1024) != 0) {
    throw bench_error(std::string("floor node cannot listen on ") + loopback_address(family_) +
                      ": " + std::strerror(errno));
  }
  getsockname(listener_, reinterpret_cast<sockaddr*>(&storage), &length);
  port_ = ntohs(family_ == family::v4 ? reinterpret_cast<sockaddr_in*>(&storage)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  epoll_event event{EPOLLIN, {.fd = listener_}};
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &event);
}

void floor_server::run() {
  std::array<epoll_event, 256> events;
  for (;;) {
    int timeout = ready_.empty() ? 1000 : 0;
    int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR)
      throw bench_error(std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == STDIN_FILENO) {
        if (!answer_control()) return;
      } else if (fd == listener_) {
        accept_all();
      } else if (auto it = peers_.find(fd); it != peers_.end()) {
        on_event(*it->second, events[static_cast<std::size_t>(i)].events);
      }
    }
    auto again = std::move(ready_);
    ready_.clear();
    for (int fd : again) {
      if (auto it = peers_.find(fd); it != peers_.end()) serve(*it->second);
    }
    for (int fd : closing_)
      drop(fd);
    closing_.clear();
  }
}

bool floor_server::answer_control() {
  auto line = hear();
  if (!line) return false;
  if (*line == "usage") {
    auto now = own_cpu_time();
    say("usage " + std::to_string(now.user_us) + " " + std::to_string(now.system_us));
  } else if (*line == "conns") {
    say("conns " + std::to_string(peers_.size()));
  } else {
    say("error the floor node does not know the command '" + *line + "'");
  }
  return true;
}

void floor_server::accept_all() {
  for (int accepted = 0; accepted < 256; ++accepted) {
    int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    SSL* ssl = nullptr;
    if (tls_ != nullptr) {
      ssl = SSL_new(tls_);
      SSL_set_fd(ssl, fd);
      SSL_set_accept_state(ssl);
    }
    auto peer = std::make_unique<floor_peer>(floor_socket(fd, ssl), tls_ != nullptr);
    peer->watched = EPOLLIN;
    epoll_event event{EPOLLIN, {.fd = fd}};
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    peers_.emplace(fd, std::move(peer));
  }
}

void floor_server::on_event(floor_peer& peer, std::uint32_t events) {
  if ((events & EPOLLOUT) != 0 && !peer.handshaking) flush(peer);
  serve(peer);
}

void floor_server::serve(floor_peer& peer) {
  if (peer.closed) return;
  if (peer.handshaking) {
    auto status = peer.socket.handshake();
    if (status == io_status::closed || status == io_status::failed) {
      peer.closed = true;
    } else if (status == io_status::done) {
      peer.handshaking = false;
    } else {
      peer.watched = status == io_status::want_write ? EPOLLIN | EPOLLOUT : EPOLLIN;
      epoll_event event{peer.watched, {.fd = peer.socket.fd()}};
      epoll_ctl(epoll_, EPOLL_CTL_MOD, peer.socket.fd(), &event);
      return;
    }
  }
  if (!peer.closed && peer.output_bytes < output_limit && !read_turn(peer)) {
    ready_.insert(peer.socket.fd());
  }
  if (!peer.closed && !peer.output.empty()) flush(peer);
  if (peer.closed) {
    closing_.push_back(peer.socket.fd());
    return;
  }
  update_interest(peer);
}

// Reads until the socket has nothing more; false when the turn ended with data left.
bool floor_server::read_turn(floor_peer& peer) {
  for (int reads = 0; reads < reads_per_turn && !peer.closed; ++reads) {
    bool into_partial = peer.partial_used > 0;
    char* at = into_partial ? peer.partial.data() + peer.partial_used : shared_.data();
    std::size_t room = into_partial ? peer.partial.size() - peer.partial_used : shared_.size();
    std::size_t got = 0;
    auto status = peer.socket.read_some(at, room, got);
    if (status == io_status::want_read || status == io_status::want_write) return true;
    if (status != io_status::done) {
      peer.closed = true;
      return true;
    }
    if (into_partial) {
      continue_partial(peer, got);
    } else {
      consume_shared(peer, got);
    }
  }
  return peer.closed || !peer.socket.has_buffered_input();
}

// Echoes every whole frame of the shared buffer in one write, so that a burst of small frames
// shares TLS records as strait's coalescing makes them do; a trailing piece is kept by the
// connection.
void floor_server::consume_shared(floor_peer& peer, std::size_t size) {
  const char* data = shared_.data();
  std::size_t at = 0;
  while (size - at >= floor_header_size) {
    std::size_t frame = floor_header_size + floor_body_size(data + at);
    if (size - at < frame) break;
    at += frame;
  }
  if (at > 0) echo(peer, data, at);
  if (at == size || peer.closed) return;
  std::size_t piece = size - at;
  std::size_t whole = piece >= floor_header_size ? floor_header_size + floor_body_size(data + at)
                                                 : floor_header_size;
  peer.partial.resize(std::max(whole, piece));
  std::memcpy(peer.partial.data(), data + at, piece);
  peer.partial_used = piece;
}

// The piece kept by the connection grew by `got` bytes: size it once the header is complete,
// echo it once the frame is.
void floor_server::continue_partial(floor_peer& peer, std::size_t got) {
  peer.partial_used += got;
  if (peer.partial_used < floor_header_size) return;
  std::size_t whole = floor_header_size + floor_body_size(peer.partial.data());
  if (peer.partial.size() < whole) peer.partial.resize(whole);
  if (peer.partial_used == whole) echo_partial(peer);
}

void floor_server::echo(floor_peer& peer, const char* frame, std::size_t size) {
  std::size_t sent = 0;
  if (peer.output.empty()) {
    for (int writes = 0; sent < size && writes < 1024; ++writes) {
      std::size_t put = 0;
      auto status = peer.socket.write_some(frame + sent, size - sent, put);
      sent += put;
      if (status == io_status::closed || status == io_status::failed) {
        peer.closed = true;
        return;
      }
      if (status != io_status::done) break;
    }
  }
  if (sent == size) return;
  peer.output.push_back(chunk{std::vector<char>(frame + sent, frame + size), 0});
  peer.output_bytes += size - sent;
}

// A frame completed in the connection's own storage is queued by moving that storage.
void floor_server::echo_partial(floor_peer& peer) {
  std::vector<char> frame;
  frame.swap(peer.partial);
  peer.partial_used = 0;
  if (!peer.output.empty()) {
    peer.output_bytes += frame.size();
    peer.output.push_back(chunk{std::move(frame), 0});
    return;
  }
  echo(peer, frame.data(), frame.size());
}

void floor_server::flush(floor_peer& peer) {
  for (int writes = 0; !peer.output.empty() && writes < 4096; ++writes) {
    auto& front = peer.output.front();
    std::size_t put = 0;
    auto status = peer.socket.write_some(front.bytes.data() + front.offset,
                                         front.bytes.size() - front.offset, put);
    front.offset += put;
    peer.output_bytes -= put;
    if (front.offset == front.bytes.size()) peer.output.pop_front();
    if (status == io_status::closed || status == io_status::failed) {
      peer.closed = true;
      return;
    }
    if (status != io_status::done) return;
  }
}

void floor_server::update_interest(floor_peer& peer) {
  std::uint32_t wanted = 0;
  if (peer.output_bytes < output_limit) wanted |= EPOLLIN;
  if (!peer.output.empty()) wanted |= EPOLLOUT;
  if (wanted == peer.watched) return;
  peer.watched = wanted;
  epoll_event event{wanted, {.fd = peer.socket.fd()}};
  epoll_ctl(epoll_, EPOLL_CTL_MOD, peer.socket.fd(), &event);
}

void floor_server::drop(int fd) {
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
  ready_.erase(fd);
  peers_.erase(fd);
}

}  // namespace

int run_floor_server(const role_args& args) {
  ssl_ctx_ptr tls;
  if (args.security_of() == security::tls) {
    tls = make_floor_server_context(cert_files::in(args.text("certs")));
  }
  floor_server server(args.family_of(), tls.get());
  say("port " + std::to_string(server.port()));
  server.run();
  return 0;
}

}  // namespace strait_bench
