// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "bench.hpp"

namespace strait_bench {

// Child roles that run strait itself. Each reads its arguments, says what the parent waits for
// on stdout, and returns the process exit status.
int run_strait_server(const role_args& args);
int run_strait_load(const role_args& args);
// Sequential connections, each a new client whose first call connects, handshakes, says hello
// and echoes once. Full handshakes only: the connector keeps no TLS session to resume.
int run_strait_handshakes(const role_args& args);
int run_strait_idle(const role_args& args);

}  // namespace strait_bench
