#!/usr/bin/env bash
# Patchbay side by side with nginx (static vendor and reverse proxy), wrk, a bare client and
# airbyte-cdk (in a throwaway virtualenv, when pip reaches PyPI; BENCH_AIRBYTE=0 skips it), in
# one run: the tables of issue 12 with their ratios (see host/benches/compare.rs and
# docs/BENCHMARKS.md "Patchbay against nginx and a bare client").
#   scripts/bench-compare.sh            # 3 interleaved rounds
#   BENCH_ROUNDS=5 scripts/bench-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  else
    echo "install first: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
exec cargo bench -p patchbay --bench compare
