// SPDX-License-Identifier: Apache-2.0
// A program run by a test: its output goes to files, every wait is bounded, and it is killed
// and reaped when the object goes, whatever the test did.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace strait::test_support {

// The full path of `name` found on PATH, or empty.
inline std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string directory; std::getline(directories, directory, ':');) {
    if (directory.empty()) continue;
    auto candidate = directory + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

inline std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class child_process {
 public:
  struct options {
    std::vector<std::string> argv;  // argv[0] is the program's full path
    std::filesystem::path stdout_path;
    std::filesystem::path stderr_path;
    // Keeps the child's stdin open (a pipe) until close_stdin(): programs such as
    // `openssl s_client` stop at end of input, before they read what the peer sends.
    bool hold_stdin = false;
  };

  // Starts the program; on failure, error() says why and running() is false.
  explicit child_process(options opts) : options_(std::move(opts)) { start(); }
  ~child_process() { kill_and_reap(); }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  const std::string& error() const noexcept { return error_; }
  bool started() const noexcept { return pid_ > 0; }

  std::string stdout_text() const { return read_text_file(options_.stdout_path); }
  std::string stderr_text() const { return read_text_file(options_.stderr_path); }
  // Both outputs, for failure messages.
  std::string output() const {
    return "--- stdout of " + options_.argv.front() + ":\n" + stdout_text() + "--- stderr:\n" +
           stderr_text();
  }

  // Writes to the child's stdin (hold_stdin only); returns whether every byte went.
  bool write_stdin(const std::string& text) {
    if (stdin_fd_ < 0) return false;
    // A child that has already ended must fail the write, not kill the test with SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);
    return ::write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }

  void close_stdin() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
  }

  // The exit status once the child has ended within `limit`; nullopt while it still runs.
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0 && !status_) {
      reap(WNOHANG);
      if (status_ || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
  }

  // Waits until `text` appears in the child's stdout or stderr, the child ends, or `limit`
  // passes. Returns whether the text appeared.
  bool wait_for_output(const std::string& text, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (stdout_text().find(text) != std::string::npos) return true;
      if (stderr_text().find(text) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (!running()) return output().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  bool running() {
    reap(WNOHANG);
    return pid_ > 0 && !status_;
  }

  // SIGTERM, then SIGKILL when the child is still there after `grace`. Returns the status.
  std::optional<int> terminate(std::chrono::milliseconds grace) {
    if (running()) ::kill(pid_, SIGTERM);
    if (auto status = wait_for_exit(grace)) return status;
    kill_and_reap();
    return status_;
  }

 private:
  void start() {
    int stdin_pipe[2] = {-1, -1};
    if (options_.hold_stdin && ::pipe2(stdin_pipe, O_CLOEXEC) != 0) {
      error_ = std::string("pipe2: ") + std::strerror(errno);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (options_.hold_stdin) {
      posix_spawn_file_actions_adddup2(&actions, stdin_pipe[0], 0);
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, 1, options_.stdout_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, options_.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    // The test's own sockets (listeners, connections) must not live on in the child.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    std::vector<char*> argv;
    for (auto& arg : options_.argv)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    auto environment = child_environment();
    std::vector<char*> envp;
    for (auto& entry : environment)
      envp.push_back(entry.data());
    envp.push_back(nullptr);

    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, argv.front(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (options_.hold_stdin) {
      ::close(stdin_pipe[0]);
      stdin_fd_ = stdin_pipe[1];
    }
    if (rc != 0) {
      error_ = "cannot start " + options_.argv.front() + ": " + std::strerror(rc);
      close_stdin();
      return;
    }
    pid_ = pid;
  }

  // The test's environment without STRAIT_* variables, which strait's programs would read as
  // configuration (STRAIT_REQUIRE_NETNS of a CI run, for one).
  static std::vector<std::string> child_environment() {
    std::vector<std::string> out;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      std::string_view text(*entry);
      if (!text.starts_with("STRAIT_")) out.emplace_back(text);
    }
    return out;
  }

  void reap(int flags) {
    if (pid_ <= 0 || status_) return;
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, flags);
    if (done == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else if (done < 0 && errno == ECHILD) {
      status_ = -1;  // reaped elsewhere; nothing left to wait for
    }
  }

  void kill_and_reap() {
    close_stdin();
    if (pid_ <= 0 || status_) return;
    ::kill(pid_, SIGKILL);
    reap(0);
  }

  options options_;
  std::string error_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::optional<int> status_;
};

}  // namespace strait::test_support
