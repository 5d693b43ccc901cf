#!/usr/bin/env bash
# Segment ingest throughput of `atrack serve` on the embedded engine, next to the native
# /batch: POST /v1/batch of 100 `track` messages, plain and gzip-compressed, and POST /batch of
# 100 events, at 16 connections over loopback with wrk. Every 200 is durable (fsynced).
#
#   infra/bench-segment.sh [SECONDS_PER_RUN]
#
# The Segment bodies are what segment-analytics-python sends: each message with a messageId
# (a UUID), a timestamp and the batch's sentAt, so every event takes the clock-skew correction
# and the retry check. Each body is from one anonymousId; 4,000 of them plain and 4,000 others
# compressed (ATRACK_SEGMENT_BATCHES), made before wrk starts, so no run sends a body twice
# (wrk cycles through them). A last run sends the plain bodies again: every message a retry,
# recognised and stored no second time.
# Needs wrk (apt-get install wrk). The server and wrk share this machine's cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_RUN="${1:-15}"
command -v wrk >/dev/null || { echo "bench-segment: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cd "$ROOT"
# shellcheck source=bench-lib.sh
source "$ROOT/infra/bench-lib.sh"
cargo build --release -p atrack-cli
data="$(mktemp -d)"
port="$(free_port)"
export ATRACK_PUBLIC_KEY=pk_load_test ATRACK_SECRET_KEY=sk_load_test RUST_LOG=warn
target/release/atrack serve --addr "127.0.0.1:$port" --data-dir "$data/store" >"$data/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
wait_for_health "http://127.0.0.1:$port"

python3 - "$data" "${ATRACK_SEGMENT_BATCHES:-4000}" <<'PY'
import datetime, gzip, json, os, sys, uuid
out, count = sys.argv[1], int(sys.argv[2])
now = datetime.datetime.now(datetime.timezone.utc)
for name in ("plain", "gzip"):
    os.makedirs(f"{out}/{name}")
for b in range(1, 2 * count + 1):
    anon = str(uuid.uuid4())
    sent = now + datetime.timedelta(seconds=b % 60)
    batch = [{
        "type": "track", "messageId": str(uuid.uuid4()), "anonymousId": anon,
        "event": "Checkout Started", "properties": {"cart_value": 129.99, "currency": "USD", "step": "payment", "n": i},
        "timestamp": (sent - datetime.timedelta(milliseconds=500 - i)).isoformat(),
        "context": {"library": {"name": "analytics-python", "version": "2.4.0"}},
        "integrations": {},
    } for i in range(100)]
    body = json.dumps({"batch": batch, "sentAt": sent.isoformat()}).encode()
    if b <= count:
        open(f"{out}/plain/{b}.bin", "wb").write(body)
    else:
        open(f"{out}/gzip/{b - count}.bin", "wb").write(gzip.compress(body))
PY
batches="${ATRACK_SEGMENT_BATCHES:-4000}"
plain_kb=$(( $(du -sb "$data/plain" | cut -f1) / batches / 1000 ))
gzip_kb=$(( $(du -sb "$data/gzip" | cut -f1) / batches / 1000 ))
export ATRACK_SEGMENT_BASIC
ATRACK_SEGMENT_BASIC="$(printf '%s:' "$ATRACK_PUBLIC_KEY" | base64 -w0)"

echo "atrack serve (release, embedded store) on $(nproc) cores, $(date -u +%F), ${SECONDS_PER_RUN}s per run, 16 connections"
echo "bodies of 100 messages: ${plain_kb} KB plain, ${gzip_kb} KB gzip-compressed, on average"
printf '%-22s %10s %10s %10s %8s %10s\n' endpoint "req/s" p50 p99 errors "events/s"
run() {
    local label="$1" script="$2" path="$3"
    out="$(wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" --latency -s "$script" "http://127.0.0.1:$port$path")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    events="$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 100}')"
    printf '%-22s %10s %10s %10s %8s %10s\n' "$label" "$rps" "$p50" "$p99" "${errors:-0}" "$events"
}
run "/batch (native)" infra/load/batch.lua /batch
ATRACK_SEGMENT_BODIES="$data/plain" ATRACK_SEGMENT_GZIP=0 run "/v1/batch plain" infra/load/segment.lua /v1/batch
ATRACK_SEGMENT_BODIES="$data/gzip" ATRACK_SEGMENT_GZIP=1 run "/v1/batch gzip" infra/load/segment.lua /v1/batch
ATRACK_SEGMENT_BODIES="$data/plain" ATRACK_SEGMENT_GZIP=0 run "/v1/batch retried" infra/load/segment.lua /v1/batch
