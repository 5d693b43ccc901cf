#!/usr/bin/env bash
# The one command that runs every test, the same way locally and in CI:
#   infra/test.sh [extra cargo test arguments]
#
# The tests need DynamoDB and SQS; they run against local stand-ins (see
# infra/services.sh). ATRACK_REQUIRE_SERVICES=1 makes the suite fail, not skip,
# when those are unreachable, so a broken service set-up can't pass as green.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVICES="$ROOT/infra/services.sh"

"$SERVICES" install

# GeoIP test data comes from a separate helper, when the project has one.
GEOIP="$ROOT/infra/fetch-geoip.sh"
if [[ -x "$GEOIP" ]]; then
    "$GEOIP"
elif [[ -f "$GEOIP" ]]; then
    bash "$GEOIP"
fi

# Stop the services however this script ends, including a failed start
# (which leaves nothing behind to stop, so stop is then a no-op).
trap '"$SERVICES" stop' EXIT
# Turn Ctrl-C / a CI timeout into a normal exit so the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

"$SERVICES" start
eval "$("$SERVICES" env)"

cargo test --workspace "$@"
