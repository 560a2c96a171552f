// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace strait::testing {

// Runs `check` in a child process that, when the tests run as root (as in CI), first becomes
// the unprivileged user nobody, so that file permissions apply to it. True when `check`
// returned true there. The child reports its own findings on stderr.
inline bool run_unprivileged(const std::function<bool()>& check) {
  constexpr uid_t nobody = 65534;
  const pid_t child = fork();
  if (child == 0) {
    if (geteuid() == 0 && (setgid(nobody) != 0 || setuid(nobody) != 0)) _exit(2);
    _exit(check() ? 0 : 1);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace strait::testing
