#!/usr/bin/env bash
# Read latency against depth on the embedded engine: one session and one event name filled
# with 10, 10,000 and 200,000 events (infra/load/fill.lua), then session/show and event/show
# at several depths, each for SECONDS_PER_RUN seconds on one connection with wrk.
#
#   infra/bench-scaling.sh [SECONDS_PER_RUN]      (needs wrk: apt-get install wrk)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_RUN="${1:-10}"
command -v wrk >/dev/null || { echo "bench-scaling: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cd "$ROOT"
# shellcheck source=bench-lib.sh
source "$ROOT/infra/bench-lib.sh"
cargo build --release -p atrack-cli
data="$(mktemp -d)"
port="$(free_port)"
export ATRACK_PUBLIC_KEY=pk_load_test ATRACK_SECRET_KEY=sk_load_test RUST_LOG=warn
target/release/atrack serve --addr "127.0.0.1:$port" --data-dir "$data" >"$data/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
url="http://127.0.0.1:$port"
wait_for_health "$url"

show() { # path body -> response JSON
    curl -fsS -H "x-a-track-key: $ATRACK_SECRET_KEY" -H 'content-type: application/json' \
        -d "$2" "$url$1"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

measure() { # events label path body
    local out rps p50 p99
    out="$(SHOW_BODY="$4" wrk -t1 -c1 -d"${SECONDS_PER_RUN}s" --latency -s infra/load/show.lua "$url$3")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    if grep -q Non-2xx <<<"$out"; then echo "bench-scaling: $2 answered errors" >&2; exit 1; fi
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$p50" "$p99" "$rps"
}

echo "atrack serve (release, embedded store) on $(nproc) cores, $(date -u +%F), ${SECONDS_PER_RUN}s per row, 1 connection"
echo
echo "| events | read | p50 | p99 | req/s |"
echo "|---:|---|---:|---:|---:|"
for n in 10 10000 200000; do
    uuid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
    name="scale_$n"
    # Long enough to send each event once at a few thousand a second; again if not.
    for _ in 1 2 3; do
        FILL_UUID="$uuid" FILL_NAME="$name" FILL_COUNT="$n" \
            wrk -t2 -c32 -d"$(( n / 3000 + 2 ))s" -s infra/load/fill.lua "$url/event" >/dev/null
        total="$(show /event/show "{\"name\":\"$name\"}" | field "['meta']['total']")"
        [[ "$total" == "$n" ]] && break
    done
    [[ "$total" == "$n" ]] || { echo "bench-scaling: filled $total events, wanted $n" >&2; exit 1; }
    last=$(( (n + 24) / 25 ))
    middle=$(( (last + 1) / 2 ))
    cursor="$(show /event/show "{\"name\":\"$name\",\"page\":$middle}" | field "['meta']['next_cursor']")"
    measure "$n" "session/show (newest 100)" /session/show "{\"uuid\":\"$uuid\"}"
    measure "$n" "event/show page 1" /event/show "{\"name\":\"$name\"}"
    if [[ "$cursor" != None ]]; then
        measure "$n" "event/show by cursor, page $((middle + 1))" /event/show "{\"name\":\"$name\",\"cursor\":\"$cursor\"}"
    fi
    measure "$n" "event/show page $middle of $last (numbered, middle)" /event/show "{\"name\":\"$name\",\"page\":$middle}"
    measure "$n" "event/show page $last (numbered, last)" /event/show "{\"name\":\"$name\",\"page\":$last}"
done
