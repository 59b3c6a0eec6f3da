#!/usr/bin/env bash
# The backend matrix's second column: the end-to-end suite (the store's coordination tests among
# it), the cluster race test and the binary's tests against PostgreSQL. Starts a throwaway
# cluster (scripts/postgres.sh), gives every test host a fresh database on it
# (PATCHBAY_TEST_POSTGRES), stops it at the end. Extra arguments go to
# `cargo test` (a filter, `-- --nocapture`).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/patchbay-pg.XXXXXX)
url=$(scripts/postgres.sh start "$dir")
trap 'scripts/postgres.sh stop "$dir" || true; rm -rf "$dir"' EXIT
echo "PostgreSQL for the matrix: $url"
export PATCHBAY_TEST_POSTGRES="$url"
# `--workspace` as in the README's first command, so the same build serves (the features of a
# workspace build differ from a single package's); it builds the binary the race test runs.
cargo test --workspace --locked --test e2e --test race --test cli "$@"
