#!/usr/bin/env bash
# run.sh: the one command for pgsift's side-by-side benchmark (issue 7). Builds pgsift as a
# Release build in build-bench (skipped when PGSIFT_BIN names a binary), then runs bench.py,
# which starts PostgreSQL 15, PgBouncer and pgsift and writes tests/bench/RESULTS.md.
#   tests/bench/run.sh            # default run, ~20 minutes (BENCH_SECONDS=8, BENCH_ROUNDS=3)
#   tests/bench/run.sh --quick    # smoke test, ~2 minutes, result in /tmp/pgsift-bench-quick.md
# Needs root (initdb, pgbouncer and pgsift run as the postgres user) and perf for the profile.
# Per-transaction counts (CPU us, context switches, strace syscalls, callgrind instructions;
# issue 15) come from tests/bench/percall.py instead: see its docstring.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${PGSIFT_BIN:-}" ]; then
	cmake -B "$root/build-bench" -S "$root" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$root/build-bench" --target pgsift -j2 >/dev/null
	PGSIFT_BIN="$root/build-bench/pgsift"
fi
exec /usr/bin/python3 "$here/bench.py" --pgsift "$PGSIFT_BIN" "$@"
