#!/usr/bin/env bash
# Export throughput and memory of `atrack export` on the embedded store: fills a store with
# EVENTS events (1,000,000 by default) through `atrack serve`'s POST /batch (wrk,
# infra/load/fill_batch.lua), stops the server, then exports the whole range to a file with the
# release CLI under /usr/bin/time, in both formats. Prints events/s and the peak resident set.
#
#   infra/bench-export.sh [EVENTS]
#
# Needs wrk and GNU time (apt-get install wrk time).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVENTS="${1:-1000000}"
command -v wrk >/dev/null || { echo "bench-export: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-export: GNU time is not installed (apt-get install time)" >&2; exit 1; }

cd "$ROOT"
# shellcheck source=bench-lib.sh
source "$ROOT/infra/bench-lib.sh"
cargo build --release -p atrack-cli
data="$(mktemp -d)"
port="$(free_port)"
export ATRACK_PUBLIC_KEY=pk_load_test ATRACK_SECRET_KEY=sk_load_test RUST_LOG=warn
server=""
trap '[[ -n "$server" ]] && kill "$server" 2>/dev/null; rm -rf "$data"' EXIT

# 2026-04-12T00:00:00Z; the events are 10 ms apart.
start_ms=1775952000000
target/release/atrack serve --addr "127.0.0.1:$port" --data-dir "$data" --no-geoip-fetch >"$data/serve.log" 2>&1 &
server=$!
wait_for_health "http://127.0.0.1:$port"
started=$SECONDS
stored() {
    curl -fsS "http://127.0.0.1:$port/api/v1/analytics/stats" -H "Authorization: Bearer $ATRACK_SECRET_KEY" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["total_events"])'
}
# wrk runs for a time, not a count: long enough for every thread to send its share once at
# the fill's pace here (about 7,500 events/s, most of it wrk's Lua making the bodies); a batch
# sent again stores nothing.
FILL_COUNT="$EVENTS" FILL_START_MS="$start_ms" \
    wrk -t2 -c16 -d"$(( EVENTS / 6000 + 30 ))s" -s infra/load/fill_batch.lua "http://127.0.0.1:$port/batch" >/dev/null
# Each session's visit also records its automatic start event (a project made now has them on).
total="$(stored)"
[[ "$total" -ge "$EVENTS" ]] || { echo "bench-export: stored $total events, expected $EVENTS and more" >&2; exit 1; }
echo "filled $total events ($EVENTS sent, and the sessions' automatic events) in $(( SECONDS - started ))s"
kill "$server"
wait "$server" 2>/dev/null || true
server=""

from="2026-04-12T00:00:00Z"
# The automatic events are stamped when they were stored, today: the range reaches to now.
to="$(date -u -d "+1 hour" +%FT%TZ)"
echo "atrack export (release, embedded store) on $(nproc) cores, $(date -u +%F), $from .. $to"
printf '%-10s %10s %10s %12s %14s %12s\n' format events seconds "events/s" "max RSS (MB)" "file (MB)"
for format in userpilot atrack; do
    out="$data/export-$format.ndjson"
    /usr/bin/time -f '%e %M' -o "$data/time" \
        target/release/atrack export --data-dir "$data" --from "$from" --to "$to" \
        --format "$format" --out "$out" 2>/dev/null
    read -r seconds rss_kb <"$data/time"
    lines="$(wc -l <"$out")"
    [[ "$lines" == "$total" ]] || { echo "bench-export: exported $lines events, expected $total" >&2; exit 1; }
    awk -v f="$format" -v n="$lines" -v s="$seconds" -v r="$rss_kb" -v b="$(stat -c %s "$out")" \
        'BEGIN {printf "%-10s %10d %10.2f %12.0f %14.1f %12.0f\n", f, n, s, n / s, r / 1024, b / 1e6}'
done
