// SPDX-License-Identifier: Apache-2.0
#pragma once

// The processes of a benchmark run: spawning this program again in a child role, talking to it
// one line at a time with deadlines, and making sure no child outlives the run.

#include "bench.hpp"
#include "stats.hpp"

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace strait_bench {

// A child process running this program with `--role ...`; its stdin and stdout are pipes to
// the parent, its stderr is the parent's. Destroying it kills the child (SIGKILL) and reaps it.
class child_process {
 public:
  // `name` says what the child is in messages ("the strait node"). `cpu` >= 0 pins the child
  // to that CPU before it runs anything.
  static child_process spawn(std::string name, const std::vector<std::string>& args, int cpu);

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&&) = delete;
  child_process(const child_process&) = delete;
  ~child_process();

  pid_t pid() const noexcept { return pid_; }
  const std::string& name() const noexcept { return name_; }

  void send_line(const std::string& line);
  // The next line the child prints, without its newline. A line "error ..." becomes a
  // bench_error with the child's text; so do end of output and the deadline.
  std::string read_line(bench_clock::time_point deadline);
  // Reads a line and checks that it starts with `word`.
  std::string expect(std::string_view word, bench_clock::time_point deadline);
  // Closes the child's stdin, which tells every role to finish.
  void close_input();
  // Waits for the child to exit, killing it at the deadline.
  void finish(bench_clock::time_point deadline);

 private:
  child_process(std::string name, pid_t pid, int to_child, int from_child);
  void kill_and_reap() noexcept;

  std::string name_;
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string pending_;
};

// Kills every child still alive when the parent is interrupted (SIGINT, SIGTERM, SIGHUP) and
// ignores SIGPIPE, so that a dead child shows up as an error rather than killing the parent.
// After the first signal every wait for a child fails with a bench_error, so that the parent
// unwinds and cleans up; a second signal ends it at once.
void install_parent_signal_handlers();
// The signal that interrupted the parent, or 0.
int interrupted_by();

// Puts this process into a network namespace of its own whose only interface is loopback, so
// that a listener on a wildcard address can be reached from nowhere else. Returns an empty
// string on success, otherwise why not.
std::string enter_private_network();

// How many CPUs this process may run on, and whether CPUs 0 and 1 are among them.
int usable_cpus();
bool can_pin_to_first_two_cpus();

// VmRSS of a process in bytes, from /proc/<pid>/status; nullopt when it cannot be read.
std::optional<std::int64_t> resident_bytes(pid_t pid);

// Runs a command to completion (for the certificate script); returns its exit status, or -1.
int run_command(const std::vector<std::string>& argv, std::chrono::seconds limit);

// The child side of the line protocol: one line to stdout, flushed; one line from stdin
// (nullopt at end of input).
void say(const std::string& line);
std::optional<std::string> hear();

// Ends this process (exit status 3) after `lifetime`, whatever it is doing: the last bound on a
// child whose parent neither closes its input nor dies.
void exit_after(std::chrono::milliseconds lifetime);

// A measuring client role: `run(length, record)` runs for `length` and returns what it did.
// Warms up for `warmup_ms` unrecorded, says "ready", waits for "go", runs for `duration_ms`
// and says the result line.
using measured_run = std::function<run_result(bench_clock::duration length, bool record)>;
int run_measured(const measured_run& run, const role_args& args);

}  // namespace strait_bench
