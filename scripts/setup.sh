#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing strait needs on Debian 12, and nothing that is already
# there. Safe to run any number of times; says what it installs.
set -euo pipefail

packages=(
  g++ make cmake ninja-build pkg-config     # build
  libboost1.81-dev libssl-dev libgtest-dev  # libraries
  openssl                                   # certificates for the demo and the tests
  clang clang-format libclang-rt-14-dev     # fuzzers and the format check
  iproute2 dnsmasq-base nftables            # network-namespace tests: hosts, DNS, a firewall
  gnutls-bin sslscan                        # TLS interoperability and scan tests
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: every package strait needs is installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
run_as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: not root and no sudo; install these as root: ${missing[*]}" >&2
    exit 1
  fi
  run_as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${run_as_root[@]}" apt-get update -qq
"${run_as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: installed ${missing[*]}"
