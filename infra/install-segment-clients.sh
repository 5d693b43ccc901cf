#!/usr/bin/env bash
# Installs the real Segment-compatible server libraries that tests/tests/segment_clients.rs
# drives against atrack, exactly as tests/segment-clients pins them:
#   - segment-analytics-python and rudder-sdk-python (requirements.txt) into the virtualenv
#     .tools/venv-segment;
#   - @segment/analytics-node (package-lock.json) into tests/segment-clients/node_modules.
#
# Usage: infra/install-segment-clients.sh
#
# Idempotent: each half is a no-op when what is installed matches its pin file. Fails loudly
# when Python, Node or npm is missing or an install fails: the test never skips.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/segment-clients"
VENV="$ROOT/.tools/venv-segment"

log() { printf 'install-segment-clients: %s\n' "$*" >&2; }
die() { printf 'install-segment-clients: ERROR: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------- python --

command -v python3 >/dev/null 2>&1 || die "python3 is required (Python 3.11 or later) but not on PATH"
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die "Python $(python3 --version 2>&1) is too old: the pinned libraries are resolved for 3.11 or later"

# A copy of the requirements a finished install was made from. An interrupted install leaves
# no copy (or an old one), so it is redone.
if [[ -x "$VENV/bin/python" ]] && cmp -s "$DIR/requirements.txt" "$VENV/.installed-requirements" \
    && "$VENV/bin/python" -c 'import segment.analytics, rudderstack.analytics' 2>/dev/null; then
    log ".tools/venv-segment: libraries already installed"
else
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating .tools/venv-segment ..."
        mkdir -p "$ROOT/.tools"
        python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
    fi
    rm -f "$VENV/.installed-requirements"
    log ".tools/venv-segment: pip install -r tests/segment-clients/requirements.txt ..."
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$DIR/requirements.txt" \
        || die "pip install failed in $VENV"
    "$VENV/bin/python" -c 'import segment.analytics, rudderstack.analytics' \
        || die "the libraries do not import after the install in $VENV"
    cp "$DIR/requirements.txt" "$VENV/.installed-requirements"
    log ".tools/venv-segment: $("$VENV/bin/python" -m pip freeze --disable-pip-version-check \
        | grep -E '^(segment-analytics-python|rudder-sdk-python)==' | tr '\n' ' ')installed"
fi

# ------------------------------------------------------------------- node --

command -v node >/dev/null 2>&1 || die "node is required (Node.js 20 or later) but not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is required but not on PATH"
major="$(node -p 'process.versions.node.split(".")[0]')"
(( major >= 20 )) || die "Node.js $(node --version) is too old: @segment/analytics-node needs 20 or later"

if cmp -s "$DIR/package-lock.json" "$DIR/node_modules/.installed-lock" \
    && [[ -d "$DIR/node_modules/@segment/analytics-node" ]]; then
    log "tests/segment-clients: packages already installed"
    exit 0
fi

log "tests/segment-clients: npm ci ..."
(cd "$DIR" && npm ci --no-audit --no-fund --ignore-scripts) || die "npm ci failed in $DIR"
[[ -d "$DIR/node_modules/@segment/analytics-node" ]] \
    || die "npm ci left no @segment/analytics-node in $DIR/node_modules"
cp "$DIR/package-lock.json" "$DIR/node_modules/.installed-lock"
log "tests/segment-clients: @segment/analytics-node $(node -p "require('$DIR/node_modules/@segment/analytics-node/package.json').version") installed"
