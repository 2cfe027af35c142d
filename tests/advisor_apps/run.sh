#!/usr/bin/env bash
# Measures pgsift's index advice on the application workloads (issue 12) and writes
# tests/advisor_apps/RESULTS.md. Run from anywhere, as root or not:
#     bash tests/advisor_apps/run.sh                 # full size, about 5-10 minutes on 2 cores
#     SCALE=0.1 OUT=/tmp/r.md bash tests/advisor_apps/run.sh   # a quick look
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE="${SCALE:-1}"
OUT="${OUT:-tests/advisor_apps/RESULTS.md}"
APPS="${APPS:-feeds,tracker}"
for p in postgresql-15 postgresql-15-pg-qualstats postgresql-15-hypopg; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        echo "missing Debian package $p: run scripts/install-deps.sh" >&2; exit 1; }
done
cmake -B build-apps -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-apps -j"$(nproc)" --target pgsift >/dev/null
export PGSIFT_BIN="$PWD/build-apps/pgsift" PGSIFT_SOURCE_DIR="$PWD" PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 tests/advisor_apps/run_apps.py --apps "$APPS" --scale "$SCALE" --out "$OUT"
