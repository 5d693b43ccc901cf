#!/usr/bin/env bash
# Ingest throughput of `atrack serve` on the embedded engine, measured with wrk over loopback:
# POST /event and POST /init at 1, 16 and 64 connections, and POST /batch (100 events a
# request) at 1 and 16. Every 200 is durable: the embedded engine answers only after the group
# commit that holds the write has been fsynced.
#
#   infra/bench-serve.sh [SECONDS_PER_RUN]               the embedded store
#   infra/bench-serve.sh --dynamodb [SECONDS_PER_RUN]    a table on DynamoDB Local instead
#
# Needs wrk (apt-get install wrk). The server and wrk share this machine's cores, so the
# figures are a floor for a machine that runs the server alone. DynamoDB Local is a Java
# program on the same two cores: its speed says nothing about DynamoDB's on AWS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE=embedded
if [[ "${1:-}" == "--dynamodb" ]]; then
    STORE=dynamodb
    shift
fi
SECONDS_PER_RUN="${1:-15}"
command -v wrk >/dev/null || { echo "bench-serve: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

cd "$ROOT"
# shellcheck source=bench-lib.sh
source "$ROOT/infra/bench-lib.sh"
cargo build --release -p atrack-cli
data="$(mktemp -d)"
port="$(free_port)"
export ATRACK_PUBLIC_KEY=pk_load_test ATRACK_SECRET_KEY=sk_load_test RUST_LOG=warn
store_args=(--data-dir "$data")
stop_services=true
if [[ "$STORE" == dynamodb ]]; then
    SERVICES="$ROOT/infra/services.sh"
    bash "$SERVICES" install
    bash "$SERVICES" start
    stop_services="bash $SERVICES stop"
    eval "$(bash "$SERVICES" env)"
    table="atrack-bench-$(date +%s)"
    target/release/atrack table create --store dynamodb --table "$table"
    store_args=(--store dynamodb --table "$table" --count-from-stream)
fi
target/release/atrack serve --addr "127.0.0.1:$port" "${store_args[@]}" >"$data/serve.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"; $stop_services' EXIT
wait_for_health "http://127.0.0.1:$port"

echo "atrack serve (release, $STORE store) on $(nproc) cores, $(date -u +%F), ${SECONDS_PER_RUN}s per run"
printf '%-8s %5s %10s %10s %10s %8s %10s\n' endpoint conns "req/s" p50 p99 errors "events/s"
for endpoint in event init batch; do
    connections=(1 16 64)
    per_request=1
    if [[ "$endpoint" == batch ]]; then
        connections=(1 16)
        per_request=100
    fi
    for conns in "${connections[@]}"; do
        threads=$(( conns < 2 ? 1 : 2 ))
        out="$(wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_RUN}s" --latency \
            -s "infra/load/$endpoint.lua" "http://127.0.0.1:$port/$endpoint")"
        rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
        p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
        p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
        errors="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
        events="$(awk -v r="$rps" -v n="$per_request" 'BEGIN {printf "%.0f", r * n}')"
        printf '%-8s %5s %10s %10s %10s %8s %10s\n' "/$endpoint" "$conns" "$rps" "$p50" "$p99" "${errors:-0}" "$events"
    done
done
