#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (tests/tests/browser.rs) when it is missing.
#
# Usage: infra/install-chromium.sh
#
# Idempotent: a no-op when /usr/bin/chromium (or $ATRACK_CHROMIUM) already runs. Otherwise it
# runs `apt-get install -y --no-install-recommends chromium`, refreshing the package lists with
# `apt-get update` only if the install fails without them, through sudo only when not root.
# Fails loudly when Chromium cannot be installed: the browser test never skips.
set -euo pipefail

CHROMIUM="${ATRACK_CHROMIUM:-/usr/bin/chromium}"

log() { printf 'install-chromium: %s\n' "$*" >&2; }
die() { printf 'install-chromium: ERROR: %s\n' "$*" >&2; exit 1; }

works() { [[ -x "$CHROMIUM" ]] && "$CHROMIUM" --version >/dev/null 2>&1; }

if works; then
    log "$("$CHROMIUM" --version) already installed"
    exit 0
fi

[[ "$CHROMIUM" == /usr/bin/chromium ]] \
    || die "ATRACK_CHROMIUM=$CHROMIUM does not run, and only Debian's /usr/bin/chromium is installed here"
command -v apt-get >/dev/null 2>&1 \
    || die "Chromium is missing and apt-get is not available: install Debian's 'chromium' package"

as_root=()
if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
        || die "Chromium is missing and installing it needs root: run 'apt-get install chromium' as root, or install sudo"
    as_root=(sudo -n)
fi

export DEBIAN_FRONTEND=noninteractive
install() { "${as_root[@]}" apt-get install -y --no-install-recommends chromium; }

log "installing Debian's chromium package ..."
if ! install; then
    log "install failed; refreshing the package lists and retrying"
    "${as_root[@]}" apt-get update || die "apt-get update failed"
    install || die "apt-get install chromium failed"
fi
works || die "chromium installed but '$CHROMIUM --version' does not run"
log "$("$CHROMIUM" --version) installed"
