#!/usr/bin/env bash
# Installs the Node.js drivers of the client matrix (pg, postgres) into tests/clients/node/node_modules
# exactly as pinned in package-lock.json. CI runs it before ctest -L clients; the node tests fail
# with a message naming this script when node_modules is missing. scripts/install-deps.sh installs
# nodejs; Debian's own nodejs package ships npm separately, so it is added here when missing.
set -euo pipefail
if ! command -v npm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends npm
fi
cd "$(dirname "$0")/node"
npm ci --no-audit --no-fund
