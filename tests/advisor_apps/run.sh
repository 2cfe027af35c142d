#!/usr/bin/env bash
# Measures pgsift's index advice on the application workloads (issue 12) and writes
# tests/advisor_apps/RESULTS.md. Run from anywhere, as root or not:
#     bash tests/advisor_apps/run.sh                 # full size, about 5 minutes on 2 cores
#     SCALE=0.1 OUT=/tmp/r.md bash tests/advisor_apps/run.sh   # a quick look
# pgsift is built from the working tree into build-apps/ unless PGSIFT_BIN names a binary;
# PGSIFT_REV=HEAD builds that commit instead (git archive into a temporary folder), which
# leaves out uncommitted changes in a tree others are editing.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE="${SCALE:-1}"
OUT="${OUT:-tests/advisor_apps/RESULTS.md}"
APPS="${APPS:-feeds,tracker}"
for p in postgresql-15 postgresql-15-pg-qualstats postgresql-15-hypopg; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        echo "missing Debian package $p: run scripts/install-deps.sh" >&2; exit 1; }
done
if [ -n "${PGSIFT_BIN:-}" ]; then
    export PGSIFT_BUILT_FROM="${PGSIFT_BUILT_FROM:-$PGSIFT_BIN}"
elif [ -n "${PGSIFT_REV:-}" ]; then
    src="$(mktemp -d /tmp/pgsift-apps-src.XXXXXX)"
    trap 'rm -rf "$src"' EXIT
    git archive "$PGSIFT_REV" | tar -x -C "$src"
    cmake -B "$src/build" -S "$src" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$src/build" -j"$(nproc)" --target pgsift >/dev/null
    export PGSIFT_BIN="$src/build/pgsift"
    export PGSIFT_BUILT_FROM="commit $(git rev-parse --short "$PGSIFT_REV") ($(git log -1 --format=%s "$PGSIFT_REV" | cut -c1-80))"
else
    cmake -B build-apps -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build-apps -j"$(nproc)" --target pgsift >/dev/null
    export PGSIFT_BIN="$PWD/build-apps/pgsift"
    dirty=""
    git diff --quiet HEAD -- stats parser || dirty=" + uncommitted changes in stats/ or parser/"
    export PGSIFT_BUILT_FROM="working tree at $(git rev-parse --short HEAD)$dirty"
fi
export PGSIFT_SOURCE_DIR="$PWD" PYTHONDONTWRITEBYTECODE=1
/usr/bin/python3 tests/advisor_apps/run_apps.py --apps "$APPS" --scale "$SCALE" --out "$OUT"
