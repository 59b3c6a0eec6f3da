#!/usr/bin/env bash
# Property-based tests of the host API: schemathesis generates requests from docs/openapi.json
# and runs them against a live host, with the mock vendors and seeded accounts (HubSpot, GitHub,
# a spare account, a webhook endpoint and an inbound webhook), for a bounded time. It fails on a
# server error, an answer that violates the description, or an answer slower than 5 s.
#
# One worker: CPython 3.11 parsing sources from two threads fails inside hypothesis
# ("AST constructor recursion depth mismatch"), an error of the tool, not of the host.
#
# Every check runs but `positive_data_acceptance`: a schema cannot say which values the host
# refuses for what they mean rather than their shape (an OAuth `state` not issued, a tenant an
# admin token must name, an inbound webhook that is not failed, a vendor refusing a proxied
# body it does not like), and those refusals are the right answers.
#
#   scripts/schemathesis.sh [SECONDS]     default 120; the summary is in target/schemathesis/
#
# Needs `schemathesis` on PATH (tests/requirements-api.txt) and the debug binaries (it builds them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-120}
out=$root/target/schemathesis
rm -rf "$out" && mkdir -p "$out"

cargo build --locked -q -p patchbay --bin patchbay -p patchbay-mock-vendors --bin mock-vendors
bin=$root/target/debug

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
url=http://127.0.0.1:$port
db="sqlite://$out/patchbay.db"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Before the host starts: both would migrate the new database at once.
export PATCHBAY_ADMIN_TOKEN
PATCHBAY_ADMIN_TOKEN=$("$bin/patchbay" token create --admin --database "$db")

"$bin/mock-vendors" >"$out/mock-vendors.log" 2>&1 &
pids+=($!)
PATCHBAY_LOG=${PATCHBAY_LOG:-warn} "$bin/patchbay" serve --listen "127.0.0.1:$port" --database "$db" \
    --connectors "$root/connectors" --allow-private-delivery-targets \
    --wasm-cache-dir "$out/wasm-cache" >"$out/host.log" 2>&1 &
pids+=($!)

export PATCHBAY_URL=$url
# Seeds the objects the cases are pinned to and prints them as shell assignments.
python3 "$root/tests/schemathesis/seed.py" >"$out/seeded.env"
# shellcheck disable=SC1091
source "$out/seeded.env"
export ACCOUNT_HUBSPOT ACCOUNT_GITHUB ACCOUNT_SPARE ACCOUNT_LINEAR CONTACT ENDPOINT INBOUND

cd "$root/tests/schemathesis"
status=0
schemathesis run "$root/docs/openapi.json" --url "$url" \
    --checks all --exclude-checks positive_data_acceptance --max-response-time 5 --max-time "$seconds" --workers 1 \
    --report junit,ndjson --report-dir "$out" --seed 1 >"$out/summary.txt" 2>&1 || status=$?
cat "$out/summary.txt"
if grep -q "thread '.*' panicked" "$out/host.log"; then
    echo "schemathesis.sh: the host panicked (target/schemathesis/host.log)" >&2
    status=1
fi
exit $status
