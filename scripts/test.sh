#!/usr/bin/env bash
# Installs what is missing, builds pgsift and runs the whole test suite (unit, integration,
# driver matrix) with ctest.
#   BUILD_DIR (default build), CMAKE_FLAGS (extra cmake flags), CTEST_ARGS (e.g. "-R parser").
set -euo pipefail
cd "$(dirname "$0")/.."
# On a fresh machine (as root) the packages and the node drivers come first; both steps do
# nothing when everything is there already.
if [ "$(id -u)" = 0 ] && [ -z "${PGSIFT_SKIP_DEPS:-}" ]; then
    bash scripts/install-deps.sh
fi
if [ ! -d tests/clients/node/node_modules ]; then
    bash tests/clients/setup-node.sh
fi
BUILD_DIR=${BUILD_DIR:-build}
cmake -B "$BUILD_DIR" -S . ${CMAKE_FLAGS:-} > /dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 ${CTEST_ARGS:-}
