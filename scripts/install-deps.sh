#!/usr/bin/env bash
# Installs every Debian package pgsift's build, tests and demo need. Idempotent; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
      libuv1-dev libpq-dev libpg-query-dev libprotobuf-c-dev libxxhash-dev libcmocka-dev libssl-dev
      postgresql-15 postgresql-contrib-15 postgresql-15-hypopg pgbouncer pgbadger
      postgresql-15-pg-qualstats
      python3 python3-psycopg2 python3-psycopg python3-asyncpg
      prometheus prometheus-pgbouncer-exporter nodejs)
# pgx v4 for the issue-11 driver tests (tests/clients/pgx), built offline from Debian's Go packages
pkgs+=(golang-go golang-github-jackc-pgx-v4-dev)
# the openssl command makes the TLS tests' CA and certificates (tests/integration/test_tls.py)
pkgs+=(openssl)
# headless Chromium opens the dashboard and checks its DOM, and takes docs/'s screenshots
# (tests/integration/test_dashboard.py)
pkgs+=(chromium)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a cluster on 5432 where services run; the tests start their own.
