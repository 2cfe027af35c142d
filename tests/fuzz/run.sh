#!/bin/sh
# Builds the libFuzzer targets with clang in their own build directory and runs each of them
# for N seconds (default 60): fuzz_parser (the SQL side), fuzz_client and fuzz_server (the wire,
# fuzz_wire.h), fuzz_tls (the TLS handshake and what travels inside TLS, fuzz_tls.c). Every target runs even when one fails; the script exits non-zero when any of
# them found a crash, a leak or a hang. The reproducer is left in the build directory
# (crash-*, leak-*, timeout-*), to be turned into a test.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     BUILD_DIR=... to build elsewhere
set -eu
SECONDS_TO_RUN=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-fuzz_parser fuzz_client fuzz_server fuzz_tls}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-fuzz}
CC=clang cmake -B "$BUILD_DIR" -S "$ROOT" -DPGSIFT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# shellcheck disable=SC2086 # one word per target
cmake --build "$BUILD_DIR" -j2 --target $TARGETS
cd "$BUILD_DIR"
# undefined behaviour fails a run like a crash does; what is known and reported is suppressed
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tests/fuzz/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
failed=""
for t in $TARGETS; do
	case $t in
	fuzz_parser) seeds=parser; opts="-max_len=2048 -dict=$ROOT/tests/fuzz/sql.dict" ;;
	fuzz_client | fuzz_server)
		seeds=${t#fuzz_}; opts="-max_len=4096 -dict=$ROOT/tests/fuzz/wire.dict" ;;
	fuzz_tls) seeds=tls; opts="-max_len=8192 -dict=$ROOT/tests/fuzz/tls.dict" ;;
	*) echo "run.sh: unknown target $t" >&2; exit 2 ;;
	esac
	corpus="$BUILD_DIR/fuzz-corpus-$seeds"
	mkdir -p "$corpus"
	echo "== $t, $SECONDS_TO_RUN s"
	# -timeout: a single input taking longer is a hang worth reporting
	# shellcheck disable=SC2086
	if ! "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$SECONDS_TO_RUN" -timeout=10 \
		-print_final_stats=1 $opts "$corpus" "$ROOT/tests/fuzz/seeds/$seeds"; then
		failed="$failed $t"
	fi
done
if [ -n "$failed" ]; then
	echo "run.sh: the fuzzer found a problem in:$failed (reproducers: $BUILD_DIR/crash-*, leak-*, timeout-*)" >&2
	exit 1
fi
