#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: run-fuzzers.sh BUILD_DIR SECONDS — runs every fuzzer for SECONDS on a copy of its
# checked-in seed corpus (new inputs are not written back into the repository).
set -euo pipefail
build=$1
seconds=$2
root=$(cd "$(dirname "$0")/.." && pwd)
for fuzzer in config_fuzz endpoint_fuzz; do
  corpus=$(mktemp -d)
  cp "$root/fuzz/corpus/$fuzzer/"* "$corpus/"
  echo "fuzz: $fuzzer for ${seconds}s"
  "$build/fuzz/$fuzzer" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
  rm -rf "$corpus"
done
