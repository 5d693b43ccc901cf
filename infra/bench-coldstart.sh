#!/usr/bin/env bash
# Each Lambda function's size and cold start (tests/benches/coldstart.rs): the release binaries
# (LTO, one codegen unit, stripped) are built for this machine, zipped as Lambda wants them
# (one file named `bootstrap`), and each is started 20 times under a Lambda Runtime API played
# on loopback, against DynamoDB Local and the moto SQS server, and timed to its first answer.
#
#   infra/bench-coldstart.sh        (needs zip: apt-get install zip)
#
# The deployed build is arm64 (`sam build`, or `cargo lambda build --release --arm64`); this
# machine builds for its own architecture, so sizes here are x86_64's.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v zip >/dev/null || { echo "bench-coldstart: zip is not installed (apt-get install zip)" >&2; exit 1; }
functions=(init attributes event session-show event-show enrich count sweep)

packages=()
for f in "${functions[@]}"; do packages+=(-p "atrack-fn-$f"); done
started=$SECONDS
cargo build --release "${packages[@]}"
echo "release build of ${#functions[@]} functions: $((SECONDS - started))s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo
echo "| function | binary (bytes) | zip (bytes) | zip (MB) |"
echo "|---|---:|---:|---:|"
for f in "${functions[@]}"; do
    mkdir -p "$work/$f"
    cp "target/release/$f" "$work/$f/bootstrap"
    (cd "$work/$f" && zip -q -9 "$work/$f.zip" bootstrap)
    bin=$(stat -c %s "target/release/$f")
    z=$(stat -c %s "$work/$f.zip")
    printf '| %s | %s | %s | %.2f |\n' "$f" "$bin" "$z" "$(awk -v z="$z" 'BEGIN {print z / 1048576}')"
done
echo

SERVICES="$ROOT/infra/services.sh"
bash "$SERVICES" install
bash "$ROOT/infra/fetch-geoip.sh"
trap 'bash "$SERVICES" stop; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash "$SERVICES" start
eval "$(bash "$SERVICES" env)"
cargo bench -p atrack-tests --bench coldstart
