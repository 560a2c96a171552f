# SPDX-License-Identifier: Apache-2.0
# The two commands of the README, and the checks CI runs. Every target installs what is
# missing first (scripts/setup.sh).

JOBS ?= 2

.PHONY: setup build demo test asan-test format-check fuzz bench docs clean

setup:
	@scripts/setup.sh

build: setup
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)

# Builds, makes certificates with the seed's commands, starts straitd on IPv6 with mutual TLS
# and runs the client against it.
demo: build
	@scripts/demo.sh build/dev

# The whole suite through ctest. As root, the network-namespace tests run too.
test: build
	@ctest --preset dev -j $(JOBS)

asan-test: setup
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)

format-check: setup
	@scripts/check-format.sh

# Each fuzzer for FUZZ_SECONDS against its checked-in seed corpus. Only the fuzzers and the
# parsers they reach are built: clang 14 cannot instrument the coroutine-based stages.
FUZZ_SECONDS ?= 60
fuzz: setup
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target config_fuzz endpoint_fuzz
	@scripts/run-fuzzers.sh build/fuzz $(FUZZ_SECONDS)

bench: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@build/release/bench/strait-bench

# Regenerates the key table of docs/configuration.md from the registry.
docs: build
	@build/dev/tools/strait-config-doc docs/configuration.md > docs/configuration.md.new
	@mv docs/configuration.md.new docs/configuration.md

clean:
	rm -rf build demo
