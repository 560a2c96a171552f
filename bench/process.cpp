// SPDX-License-Identifier: Apache-2.0
#include "process.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace strait_bench {
namespace {

// Children alive right now, for the signal handler: plain pid_t slots, since the handler may
// only read memory and call kill().
constexpr std::size_t max_children = 64;
// Result lines carry a latency histogram: a few kilobytes, far below this.
constexpr std::size_t max_line_bytes = 1024 * 1024;
std::array<volatile pid_t, max_children> live_children{};

void remember_child(pid_t pid) {
  for (auto& slot : live_children) {
    if (slot == 0) {
      slot = pid;
      return;
    }
  }
}

void forget_child(pid_t pid) {
  for (auto& slot : live_children) {
    if (slot == pid) slot = 0;
  }
}

volatile sig_atomic_t interrupting_signal = 0;

// The first signal kills the children and lets the parent unwind (removing its temporary
// files) from wherever it waits; a second one ends the parent at once.
extern "C" void kill_children_on_signal(int signal_number) {
  for (auto& slot : live_children) {
    pid_t pid = slot;
    if (pid > 0) kill(pid, SIGKILL);
  }
  if (interrupting_signal != 0) _exit(128 + signal_number);
  interrupting_signal = signal_number;
}

std::string errno_text(int error) {
  return std::strerror(error);
}

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

std::vector<char*> argv_of(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  return argv;
}

bool write_file(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// Network namespaces start with loopback down.
std::string bring_loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return "socket: " + errno_text(errno);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  std::string problem;
  if (ioctl(s, SIOCGIFFLAGS, &request) != 0) {
    problem = "reading the flags of lo: " + errno_text(errno);
  } else {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (ioctl(s, SIOCSIFFLAGS, &request) != 0) problem = "setting lo up: " + errno_text(errno);
  }
  close(s);
  return problem;
}

// Without privileges, a user namespace of our own gives the right to make the network one.
std::string enter_user_and_network_namespace() {
  auto uid = geteuid();
  auto gid = getegid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    return "unshare(CLONE_NEWUSER | CLONE_NEWNET): " + errno_text(errno);
  }
  if (!write_file("/proc/self/setgroups", "deny") ||
      !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
      !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
    return "mapping the user in the new user namespace failed";
  }
  return "";
}

}  // namespace

child_process::child_process(std::string name, pid_t pid, int to_child, int from_child)
    : name_(std::move(name)), pid_(pid), to_child_(to_child), from_child_(from_child) {}

child_process::child_process(child_process&& other) noexcept
    : name_(std::move(other.name_)),
      pid_(std::exchange(other.pid_, -1)),
      to_child_(std::exchange(other.to_child_, -1)),
      from_child_(std::exchange(other.from_child_, -1)),
      pending_(std::move(other.pending_)) {}

child_process::~child_process() {
  kill_and_reap();
}

child_process child_process::spawn(std::string name, const std::vector<std::string>& args,
                                   int cpu) {
  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) throw bench_error("pipe: " + errno_text(errno));
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    throw bench_error("pipe: " + errno_text(errno));
  }
  std::vector<std::string> full{"strait-bench"};
  full.insert(full.end(), args.begin(), args.end());
  auto argv = argv_of(full);
  auto parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    // The child dies with the parent, even when the parent is killed outright.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    if (cpu >= 0) pin_self(cpu);
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    close(to_child[1]);
    close(from_child[0]);
    throw bench_error("fork for " + name + ": " + errno_text(errno));
  }
  remember_child(pid);
  return child_process(std::move(name), pid, to_child[1], from_child[0]);
}

void child_process::send_line(const std::string& line) {
  auto text = line + "\n";
  std::size_t sent = 0;
  while (sent < text.size()) {
    auto n = write(to_child_, text.data() + sent, text.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw bench_error(name_ + " (pid " + std::to_string(pid_) +
                        ") no longer reads its input: " + errno_text(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
}

std::string child_process::read_line(bench_clock::time_point deadline) {
  for (int reads = 0; reads < 1'000'000; ++reads) {
    if (interrupting_signal != 0)
      throw bench_error("interrupted by signal " + std::to_string(interrupting_signal));
    if (auto newline = pending_.find('\n'); newline != std::string::npos) {
      auto line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      if (line.starts_with("error ")) throw bench_error(name_ + ": " + line.substr(6));
      return line;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - bench_clock::now());
    if (left.count() <= 0) {
      throw bench_error(name_ + " (pid " + std::to_string(pid_) + ") did not answer in time");
    }
    if (pending_.size() > max_line_bytes) throw bench_error(name_ + " printed an overlong line");
    pollfd p{from_child_, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (ready <= 0) continue;
    std::array<char, 65536> chunk;
    auto n = read(from_child_, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw bench_error(name_ + " (pid " + std::to_string(pid_) + ") exited unexpectedly");
    }
    pending_.append(chunk.data(), static_cast<std::size_t>(n));
  }
  throw bench_error(name_ + " printed no complete line");
}

std::string child_process::expect(std::string_view word, bench_clock::time_point deadline) {
  auto line = read_line(deadline);
  if (!line.starts_with(word)) {
    throw bench_error(name_ + " said '" + line + "' where '" + std::string(word) +
                      "' was expected");
  }
  return line;
}

void child_process::close_input() {
  if (to_child_ >= 0) close(to_child_);
  to_child_ = -1;
}

void child_process::finish(bench_clock::time_point deadline) {
  close_input();
  while (pid_ > 0 && bench_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      forget_child(pid_);
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  kill_and_reap();
}

void child_process::kill_and_reap() noexcept {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid_);
    pid_ = -1;
  }
  if (to_child_ >= 0) close(to_child_);
  if (from_child_ >= 0) close(from_child_);
  to_child_ = from_child_ = -1;
}

int interrupted_by() {
  return interrupting_signal;
}

void install_parent_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = kill_children_on_signal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP})
    sigaction(s, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string enter_private_network() {
  if (unshare(CLONE_NEWNET) != 0) {
    auto direct = "unshare(CLONE_NEWNET): " + errno_text(errno);
    if (auto problem = enter_user_and_network_namespace(); !problem.empty()) {
      return direct + "; " + problem;
    }
  }
  return bring_loopback_up();
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
}

bool can_pin_to_first_two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  return CPU_ISSET(0, &set) && CPU_ISSET(1, &set);
}

std::optional<std::int64_t> resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  for (int lines = 0; lines < 200 && std::getline(status, line); ++lines) {
    if (!line.starts_with("VmRSS:")) continue;
    std::istringstream fields(line.substr(6));
    std::int64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

int run_command(const std::vector<std::string>& argv, std::chrono::seconds limit) {
  auto args = argv_of(argv);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  remember_child(pid);
  auto deadline = bench_clock::now() + limit;
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (bench_clock::now() > deadline || interrupting_signal != 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      forget_child(pid);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  forget_child(pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void say(const std::string& line) {
  auto text = line + "\n";
  std::size_t sent = 0;
  while (sent < text.size()) {
    auto n = write(STDOUT_FILENO, text.data() + sent, text.size() - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

// The parent sends one command and waits for its answer before the next, so a read never
// holds more than the line asked for.
std::optional<std::string> hear() {
  static std::string pending;
  for (int reads = 0; reads < 1'000'000; ++reads) {
    if (auto newline = pending.find('\n'); newline != std::string::npos) {
      auto line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      return line;
    }
    if (pending.size() > max_line_bytes) return std::nullopt;
    std::array<char, 4096> chunk;
    auto n = read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    pending.append(chunk.data(), static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

void exit_after(std::chrono::milliseconds lifetime) {
  std::thread([lifetime] {
    std::this_thread::sleep_for(lifetime);
    std::_Exit(3);
  }).detach();
}

int run_measured(const measured_run& run, const role_args& args) {
  run(args.millis("warmup_ms"), false);
  say("ready");
  auto go = hear();
  if (!go || *go != "go") return 1;
  say(run(args.millis("duration_ms"), true).to_line());
  return 0;
}

}  // namespace strait_bench
