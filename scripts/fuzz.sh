#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer on nightly), each for SECONDS, and prints a
# summary: executions, time and corpus size per target. Installs the nightly toolchain and
# cargo-fuzz when they are missing. A crash stops the run: its input is in
# fuzz/artifacts/<target>/; make it a regression test (docs/TESTING.md says how).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default 30 s, every target
#
# The corpus of each target grows in target/fuzz-corpus/<target>, seeded from fuzz/seeds/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-30}
shift || true

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.1 --locked
cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# One build for every target, then each runs from it.
cargo +nightly fuzz build --release

summary=()
for t in "${targets[@]}"; do
    corpus=$root/target/fuzz-corpus/$t
    mkdir -p "$corpus"
    [ -d "seeds/$t" ] && cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true
    log=$root/target/fuzz-corpus/$t.log
    # -rss_limit_mb: an input that makes a parser allocate without bound is a finding too.
    if ! cargo +nightly fuzz run --release "$t" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz.sh: $t failed; the input is in fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    summary+=("$(printf '%-18s %12s runs %6s s %6s corpus files' "$t" "${runs:-?}" "$seconds" "$(find "$corpus" -type f | wc -l)")")
done
printf '%s\n' "${summary[@]}"
