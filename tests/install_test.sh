#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: install_test.sh SOURCE_DIR BUILD_DIR [CXX_FLAGS] — installs the build into a scratch prefix, then
# builds and runs examples/embed_minimal.cpp as an embedder would, through find_package(strait).
set -euo pipefail
source_dir=$1
build_dir=$2
cxx_flags=${3:-}  # the build's own flags, such as a sanitizer's, which the archives need
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
cmake -S "$source_dir/tests/install" -B "$scratch/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_CXX_FLAGS="$cxx_flags" -DEXAMPLE_SOURCE="$source_dir/examples/embed_minimal.cpp" \
  >/dev/null
cmake --build "$scratch/build" >/dev/null
"$scratch/build/consumer"
echo "1 passed, 0 failed"
