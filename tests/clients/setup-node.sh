#!/usr/bin/env bash
# Installs the Node.js drivers of the client matrix (pg, postgres) into tests/clients/node/node_modules
# exactly as pinned in package-lock.json. CI runs it before ctest -L clients; the node tests fail
# with a message naming this script when node_modules is missing.
set -euo pipefail
cd "$(dirname "$0")/node"
npm ci --no-audit --no-fund
