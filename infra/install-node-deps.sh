#!/usr/bin/env bash
# Installs the Node packages the browser test of the live events page needs
# (tests/browser-live: playwright-core, which drives Debian's Chromium; it downloads no
# browser of its own) exactly as package-lock.json pins them.
#
# Usage: infra/install-node-deps.sh
#
# Idempotent: a no-op when node_modules already matches the lock file. Fails loudly when Node
# or npm is missing or the install fails: the test never skips.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/browser-live"

log() { printf 'install-node-deps: %s\n' "$*" >&2; }
die() { printf 'install-node-deps: ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is required (Node.js 20 or later) but not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is required but not on PATH"
major="$(node -p 'process.versions.node.split(".")[0]')"
(( major >= 20 )) || die "Node.js $(node --version) is too old: playwright-core needs 20 or later"

# A copy of the lock file a finished install was made from: the same content, the same
# packages. An interrupted install leaves no copy, so it is redone.
if cmp -s "$DIR/package-lock.json" "$DIR/node_modules/.installed-lock" \
    && [[ -d "$DIR/node_modules/playwright-core" ]]; then
    log "tests/browser-live: packages already installed"
    exit 0
fi

log "tests/browser-live: npm ci ..."
(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts) || die "npm ci failed in $DIR"
[[ -d "$DIR/node_modules/playwright-core" ]] || die "npm ci left no playwright-core in $DIR/node_modules"
cp "$DIR/package-lock.json" "$DIR/node_modules/.installed-lock"
log "tests/browser-live: playwright-core $(node -p "require('$DIR/node_modules/playwright-core/package.json').version") installed"
