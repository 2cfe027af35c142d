#!/usr/bin/env bash
# The demo: installs the dependencies, builds pgsift, starts a throwaway PostgreSQL 15 in a
# temporary directory and pgsift in front of it, prints the DATABASE_URL to use, and runs until
# Ctrl-C (then stops both and removes the directory).
#   PGSIFT_PORT (default 6432), PG_PORT (default 55432), DEMO_DIR (default a new temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PGSIFT_PORT=${PGSIFT_PORT:-6432}
PG_PORT=${PG_PORT:-55432}
PGBIN=/usr/lib/postgresql/15/bin

if [ "$(id -u)" = 0 ]; then bash scripts/install-deps.sh; fi
cmake -B build -S . > /dev/null
cmake --build build -j"$(nproc)" --target pgsift

DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/pgsift-demo.XXXXXX)}
chmod 755 "$DEMO_DIR"
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$DEMO_DIR"; fi

cleanup() {
    [ -n "${PGSIFT_PID:-}" ] && kill "$PGSIFT_PID" 2>/dev/null && wait "$PGSIFT_PID" 2>/dev/null || true
    as_pg "$PGBIN/pg_ctl" -D "$DEMO_DIR/data" -m fast stop > /dev/null 2>&1 || true
    rm -rf "$DEMO_DIR"
}
trap cleanup EXIT INT TERM

as_pg "$PGBIN/initdb" -D "$DEMO_DIR/data" -U postgres -A trust > "$DEMO_DIR/initdb.log"
if ! as_pg "$PGBIN/pg_ctl" -D "$DEMO_DIR/data" -l "$DEMO_DIR/postgres.log" -w \
    -o "-p $PG_PORT -k $DEMO_DIR -c listen_addresses=127.0.0.1" start > /dev/null; then
    cat "$DEMO_DIR/postgres.log" >&2
    echo "PostgreSQL did not start (is port $PG_PORT free? set PG_PORT)" >&2
    exit 1
fi
as_pg "$PGBIN/createdb" -h "$DEMO_DIR" -p "$PG_PORT" -U postgres demo

cat > "$DEMO_DIR/pgsift.ini" <<INI
[pgsift]
listen_addr = 127.0.0.1
listen_port = $PGSIFT_PORT
unix_socket_dir =
auth_type = trust
admin_users = postgres
pool_mode = transaction
default_pool_size = 10
slow_query_ms = 100
slow_query_log = $DEMO_DIR/slow.json
stats_file = $DEMO_DIR/stats.bin

[databases]
* = host=127.0.0.1 port=$PG_PORT
INI

"$ROOT/build/pgsift" -c "$DEMO_DIR/pgsift.ini" 2> >(tee "$DEMO_DIR/pgsift.log" >&2) &
PGSIFT_PID=$!
for _ in $(seq 100); do
    grep -q "listening on 127.0.0.1:$PGSIFT_PORT" "$DEMO_DIR/pgsift.log" 2>/dev/null && break
    kill -0 "$PGSIFT_PID" 2>/dev/null || { echo "pgsift did not start (is port $PGSIFT_PORT free? set PGSIFT_PORT)" >&2; exit 1; }
    sleep 0.1
done

cat <<MSG

pgsift is running in front of a throwaway PostgreSQL 15.

  DATABASE_URL=postgresql://postgres@127.0.0.1:$PGSIFT_PORT/demo

  psql "postgresql://postgres@127.0.0.1:$PGSIFT_PORT/demo"
  psql "postgresql://postgres@127.0.0.1:$PGSIFT_PORT/pgsift" -c "SHOW POOLS"   # admin console
  slow-query log: $DEMO_DIR/slow.json

Ctrl-C stops pgsift and PostgreSQL and removes $DEMO_DIR.
MSG
wait "$PGSIFT_PID"
