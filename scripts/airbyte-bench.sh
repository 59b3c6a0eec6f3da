#!/usr/bin/env bash
# The airbyte-cdk column of the 10,000-contact bench (host/benches/compare.rs, issue 12): the
# CDK's declarative runtime reads the static vendor's contacts with scripts/airbyte-bench/
# manifest.yaml, in a throwaway virtualenv.
#   scripts/airbyte-bench.sh <vendor_base_url> <token>
# Prints one line on stdout, either
#   records=<n> seconds=<float>     (the read alone, from scripts/airbyte-bench/run.py)
#   skipped: <reason>               (no usable python, or pip could not install the CDK; exit 0)
# Everything else goes to stderr. A failed read exits non-zero.
# The virtualenv is ${AIRBYTE_VENV:-target/airbyte-venv} (relative to the repository) and is
# reused while it holds the CDK; AIRBYTE_CDK_VERSION (default 7.39.1, the version the issue
# measured; the latest is tried if it cannot be installed) and AIRBYTE_PYTHON (default python3)
# choose the rest.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <vendor_base_url> <token>" >&2
  exit 2
fi
vendor=$1
token=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv=${AIRBYTE_VENV:-target/airbyte-venv}
case $venv in /*) ;; *) venv=$root/$venv ;; esac
want=${AIRBYTE_CDK_VERSION:-7.39.1}
python=${AIRBYTE_PYTHON:-python3}

# One line on stdout, whatever the reason holds.
skip() {
  echo "skipped: $(printf '%s' "$*" | tr -s '[:space:]' ' ' | sed 's/ *$//')"
  exit 0
}

# airbyte-cdk 7.x asks for Python >=3.10,<3.15.
command -v "$python" >/dev/null 2>&1 || skip "no $python on the PATH"
pyversion=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) ||
  skip "$python does not run"
if ! "$python" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 15) else 1)'; then
  skip "airbyte-cdk needs Python >=3.10,<3.15; $python is $pyversion"
fi

vpy=$venv/bin/python
installed() {
  [ -x "$vpy" ] && "$vpy" -c 'import airbyte_cdk.sources.declarative.yaml_declarative_source' >/dev/null 2>&1
}
cdk_version() {
  "$vpy" -c 'from importlib.metadata import version; print(version("airbyte-cdk"))' 2>/dev/null
}

# Reuse the virtualenv while it holds the wanted version (or the fallback a previous run
# installed when the wanted one could not be had: its stamp says so).
# (A version check only: run.py's import says it if the install is broken.)
have=$( [ -x "$vpy" ] && cdk_version || true)
if [ -n "$have" ] && { [ "$have" = "$want" ] || [ "$(cat "$venv/.fallback-for" 2>/dev/null)" = "$want" ]; }; then
  :
else
  mkdir -p "$(dirname "$venv")"
  log=$venv.install.log
  started=$(date +%s)
  if [ ! -x "$vpy" ] || ! "$vpy" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    "$python" -m venv "$venv" >"$log" 2>&1 || skip "could not make a virtualenv at $venv (log: $log)"
  fi
  rm -f "$venv/.fallback-for"
  # Short timeouts and few retries: with no way to PyPI this answers in seconds, not minutes.
  pip=("$vpy" -m pip install --disable-pip-version-check --no-input --timeout 30 --retries 2)
  echo "airbyte-bench: installing airbyte-cdk==$want into $venv (log: $log)" >&2
  if ! "${pip[@]}" "airbyte-cdk==$want" >>"$log" 2>&1; then
    echo "airbyte-bench: airbyte-cdk==$want could not be installed; trying the latest" >&2
    if ! "${pip[@]}" --upgrade airbyte-cdk >>"$log" 2>&1; then
      reason=$(grep -E '^(ERROR|error):' "$log" | tail -n 1 | cut -c1-200)
      skip "pip could not install airbyte-cdk (${reason:-see $log})"
    fi
    echo "$want" >"$venv/.fallback-for"
  fi
  installed || skip "airbyte-cdk installed but does not import (log: $log)"
  echo "airbyte-bench: airbyte-cdk $(cdk_version) installed in $(($(date +%s) - started)) s" >&2
fi

# Run from the repository root with -I (isolated): neither the caller's directory nor
# PYTHONPATH can shadow the CDK's modules (it has packages named `datetime`, `types`, ...).
cd "$root"
exec "$vpy" -I "$here/airbyte-bench/run.py" "$vendor" "$token"
