// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "orchestrator.hpp"

#include <cstdio>
#include <string>

namespace strait_bench {

// The tables of docs/benchmark.md: echo calls, handshakes, idle connections, and the notes.
void print_report(std::FILE* out, const bench_report& report);

// The same figures, and every round's rate, as JSON. Fails with a bench_error naming the path.
void write_json(const std::string& path, const bench_report& report);

}  // namespace strait_bench
