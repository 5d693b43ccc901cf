#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 600) with libFuzzer and
# prints, per target, the executions, the corpus it grew and whether it found anything.
#
#   infra/fuzz.sh            every target, 10 minutes each
#   infra/fuzz.sh 60 cursor  one target, one minute
#
# Needs the nightly toolchain (sanitizer instrumentation) and cargo-fuzz, which it installs.
# A crash leaves its input under fuzz/artifacts/<target>/ and stops that target; turn it into a
# regression test before fixing it. Seeds come from fuzz/seeds/<target> when it exists; the
# grown corpus stays in fuzz/corpus (not committed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(request_body cursor url_attribution user_agent odata_filter kql_query)
fi

rustup run nightly rustc --version >/dev/null 2>&1 \
    || { echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cargo +nightly fuzz build
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    dirs=("corpus/$target")
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    log="$(mktemp)"
    started=$SECONDS
    if cargo +nightly fuzz run "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=8192 >"$log" 2>&1; then
        found="none"
    else
        found="CRASH: $(grep -m1 -o 'artifacts/[^ ]*' "$log" || echo "see $log")"
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo "?")
    units=$(find "corpus/$target" -type f | wc -l)
    printf '%-16s %5ss  %12s execs  %7s/s  cov %6s  corpus %6s  findings: %s\n' \
        "$target" "$((SECONDS - started))" "$execs" "$rate" "$cov" "$units" "$found"
    [ "$found" = "none" ] && rm -f "$log"
done
exit $status
