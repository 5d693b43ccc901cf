#!/usr/bin/env bash
# Lays out the GeoIP databases as the Lambda layer template.yaml deploys (GeoIpLayer):
# target/geoip-layer/geoip/*.mmdb, mounted at /opt/geoip/ where the functions look.
# Run before `sam build`; fetches the free databases first if they are missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${ATRACK_GEOIP_DIR:-$ROOT/data/geoip}"
OUT="$ROOT/target/geoip-layer"

bash "$ROOT/infra/fetch-geoip.sh" "$SRC"
rm -rf "$OUT"
mkdir -p "$OUT/geoip"
cp "$SRC"/*.mmdb "$OUT/geoip/"
# The licences travel with the data.
find "$SRC" -maxdepth 1 -type f ! -name '*.mmdb' ! -name '.*' -exec cp {} "$OUT/geoip/" \;
du -sh "$OUT/geoip"
