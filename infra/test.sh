#!/usr/bin/env bash
# The one command that runs every test, the same way on a fresh machine, locally and in CI:
#
#   infra/test.sh [extra cargo test arguments]
#
# It installs what the tests need (DynamoDB Local and the moto SQS server under .tools/, the
# free GeoIP databases under data/geoip/, the enrichment accuracy corpus under
# .tools/enrich-corpus/, Debian's Chromium for tests/tests/browser.rs and live_page.rs when
# missing, playwright-core for live_page.rs under tests/browser-live/node_modules/, the
# Segment and RudderStack libraries segment_clients.rs drives, in .tools/venv-segment and
# tests/segment-clients/node_modules/), lints
# template.yaml (cfn-lint, sam validate), checks that the Lambda functions build on their
# own, starts the two services on free loopback ports, runs `cargo test --workspace` against
# them and stops them however it ends. A service that cannot be installed or started fails
# the run: the tests never skip what they cannot reach.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SERVICES="$ROOT/infra/services.sh"
started=$SECONDS

bash "$SERVICES" install
bash "$ROOT/infra/install-chromium.sh"
bash "$ROOT/infra/install-node-deps.sh"
bash "$ROOT/infra/install-segment-clients.sh"
bash "$ROOT/infra/fetch-geoip.sh"
bash "$ROOT/infra/fetch-enrich-corpus.sh"
bash "$ROOT/infra/lint-template.sh"

# Stop the services however this script ends, including a failed start.
trap 'bash "$SERVICES" stop' EXIT
# Turn Ctrl-C or a CI timeout into a normal exit so the EXIT trap runs.
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$SERVICES" start
eval "$(bash "$SERVICES" env)"

# The Lambda functions link atrack-shared without the embedded engine, as `sam build` builds
# them one by one; the workspace's test build unifies features and would hide code that only
# compiles with it. Checking the functions on their own catches that.
functions=()
for dir in "$ROOT"/functions/*/; do functions+=(-p "atrack-fn-$(basename "$dir")"); done
cargo check --quiet "${functions[@]}"

cargo test --workspace "$@"
echo "infra/test.sh: all tests passed in $((SECONDS - started))s"
