#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when clang-format would change any C++ file of the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "format-check: run clang-format -i on the files above" >&2
  exit 1
fi
echo "format-check: ${#files[@]} files formatted"
