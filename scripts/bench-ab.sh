#!/usr/bin/env bash
# A/B of host variants in the same minutes, against the compare bench's static nginx vendor,
# nginx reverse proxy and HubSpot account (host/benches/compare.rs, paused with BENCH_PAUSE):
# each variant is a `patchbay serve` started on the bench's database, measured with wrk in
# interleaved rounds (one contact through /proxy: p50 at 1 connection, req/s at 16; the first
# unified page: pages/s at 1 and 4 connections). Used for docs/BENCHMARKS.md (issue 12).
#   scripts/bench-ab.sh ROUNDS 'label:[BIN=/path/to/patchbay] [ENV=VALUE ...]' ...
#   scripts/bench-ab.sh 3 'shared:' 'threads:PATCHBAY_HTTP_THREADS=2'
# Build first: cargo bench -p patchbay --bench compare --no-run (the bench and target/release/patchbay).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
rounds=$1
shift
bench=$(ls -t target/release/deps/compare-* | grep -v '\.d$' | head -n 1)
work=$(mktemp -d)
BENCH_PAUSE=3600 BENCH_ROUNDS=1 BENCH_AIRBYTE=0 "$bench" >"$work/bench.log" 2>&1 &
bench_pid=$!
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  pkill -P "$bench_pid" 2>/dev/null || true
  kill "$bench_pid" 2>/dev/null || true
  pkill -f "nginx.*bench-compare" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do
  grep -q '^host http' "$work/bench.log" && break
  sleep 1
done
line=$(grep '^host http' "$work/bench.log")
field() { sed -E "s/$1/\\1/" <<<"$line"; }
token=$(field '.*admin token ([^,]+), .*')
account=$(field '.*account ([^;]+);.*')
nginx_proxy=$(field '.*nginx proxy (http[^ ]+).*')
db=$(ls -td "${TMPDIR:-/tmp}"/*bench-compare*/p.db | head -n 1)

declare -A urls
port=$((20000 + RANDOM % 20000))
for spec in "$@"; do
  label=${spec%%:*}
  read -r -a settings <<<"${spec#*:}"
  bin=target/release/patchbay
  envs=()
  for s in "${settings[@]}"; do
    case $s in BIN=*) bin=${s#BIN=} ;; *) envs+=("$s") ;; esac
  done
  port=$((port + 1))
  env PATCHBAY_LOG=warn "${envs[@]}" "$bin" serve --listen "127.0.0.1:$port" \
    --database "sqlite://$db" --connectors connectors >"$work/$label.log" 2>&1 &
  pids+=($!)
  urls[$label]="http://127.0.0.1:$port"
done
sleep 3

proxy() { # label url auth
  local one sixteen
  one=$(wrk -t1 -c1 -d5s --latency -H "Authorization: $3" "$2")
  sixteen=$(wrk -t2 -c16 -d5s -H "Authorization: $3" "$2")
  if grep -q Non-2xx <<<"$one$sixteen"; then echo "$1 answered errors" >&2; exit 1; fi
  printf '%-12s p50 %9s  p99 %9s  req/s at 16 %9s\n' "$1" \
    "$(awk '/ 50%/{print $2}' <<<"$one")" "$(awk '/ 99%/{print $2}' <<<"$one")" \
    "$(awk '/Requests\/sec/{print $2}' <<<"$sixteen")"
}
contact=/crm/v3/objects/contacts/101
for _ in $(seq 1 "$rounds"); do
  proxy nginx "$nginx_proxy$contact" "Bearer bench-token"
  for spec in "$@"; do
    label=${spec%%:*}
    proxy "$label" "${urls[$label]}/proxy/contacts/101?integrated_account_id=$account" "Bearer $token"
  done
done
echo "first unified page, remote_data on"
for _ in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    label=${spec%%:*}
    url="${urls[$label]}/unified/crm/contacts?integrated_account_id=$account&limit=100"
    one=$(wrk -t1 -c1 -d5s -H "Authorization: Bearer $token" "$url")
    four=$(wrk -t2 -c4 -d5s -H "Authorization: Bearer $token" "$url")
    printf '%-12s pages/s at 1 %9s  at 4 %9s\n' "$label" \
      "$(awk '/Requests\/sec/{print $2}' <<<"$one")" "$(awk '/Requests\/sec/{print $2}' <<<"$four")"
  done
done
