#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: make-test-certs.sh DIR — writes the test certificates into DIR.
set -euo pipefail
mkdir -p "$1"
