#!/usr/bin/env bash
# Builds pgsift and runs the whole test suite (unit + integration) with ctest.
#   BUILD_DIR (default build), CMAKE_FLAGS (extra cmake flags), CTEST_ARGS (e.g. "-R parser").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -B "$BUILD_DIR" -S . ${CMAKE_FLAGS:-} > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 ${CTEST_ARGS:-}
