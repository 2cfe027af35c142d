#!/bin/sh
# Builds the libFuzzer targets with clang in their own build directory and runs fuzz_parser for
# N seconds (default 60). Exits non-zero when the fuzzer finds a crash; the reproducer is left in
# the build directory (crash-*), to be turned into a unit test.
#   tests/fuzz/run.sh [SECONDS]        BUILD_DIR=... to build elsewhere
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
CC=clang cmake -B "$BUILD_DIR" -S "$ROOT" -DPGSIFT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target fuzz_parser -j2
CORPUS="$BUILD_DIR/fuzz-corpus-parser"
mkdir -p "$CORPUS"
cd "$BUILD_DIR"
# -timeout: a single input taking longer is a hang worth reporting
"$BUILD_DIR/tests/fuzz/fuzz_parser" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -timeout=10 \
	-print_final_stats=1 -dict="$ROOT/tests/fuzz/sql.dict" "$CORPUS" "$ROOT/tests/fuzz/seeds/parser"
