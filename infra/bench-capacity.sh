#!/usr/bin/env bash
# DynamoDB read and write capacity units per API call, measured on DynamoDB Local with
# ReturnConsumedCapacity on every call (tests/benches/capacity.rs). Prints a Markdown table.
#
#   infra/bench-capacity.sh
#
# Installs and starts DynamoDB Local like infra/test.sh, and stops it however this ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVICES="$ROOT/infra/services.sh"
bash "$SERVICES" install
bash "$ROOT/infra/fetch-geoip.sh"
trap 'bash "$SERVICES" stop' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash "$SERVICES" start
eval "$(bash "$SERVICES" env)"
cargo bench -p atrack-tests --bench capacity
