#!/usr/bin/env bash
# Checks the Prometheus rules, their unit tests and the example configuration.
# Run from the repository root (CI does): deploy/prometheus/check.sh. Needs promtool
# (Debian/Ubuntu: apt-get install prometheus; or the prometheus release tarball).
set -euo pipefail

cd "$(dirname "$0")/../.."
dir=deploy/prometheus
command -v promtool >/dev/null || { echo "promtool not found: install prometheus" >&2; exit 1; }
promtool --version | head -n 1

promtool check rules "$dir/alerts.yml"
promtool test rules "$dir/alerts.test.yml"

# promtool check config stats every credentials_file, and /etc/prometheus/patchbay-token does not
# exist on a CI runner: check a copy that points at a dummy token file (rule_files resolve
# relative to the config, so alerts.yml is copied next to it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/alerts.yml" "$tmp/alerts.yml"
printf 'dummy-token\n' >"$tmp/patchbay-token"
sed "s#/etc/prometheus/patchbay-token#$tmp/patchbay-token#" "$dir/prometheus.yml" >"$tmp/prometheus.yml"
grep -q "credentials_file: $tmp/patchbay-token" "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"

# The cluster's configuration (deploy/compose.yaml), likewise next to a copy of the rules.
cp "$dir/cluster.yml" "$tmp/cluster.yml"
promtool check config "$tmp/cluster.yml"

# The load balancer's configuration, where nginx is installed (scripts/cluster.sh uses it):
# the compose service names resolve only inside compose, so they are checked as loopback.
if command -v nginx >/dev/null; then
    sed 's/patchbay-[0-9]:8080/127.0.0.1:8080/' deploy/nginx/patchbay.conf >"$tmp/patchbay.conf"
    printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp { include %s/patchbay.conf; }\n' "$tmp" "$tmp" >"$tmp/nginx.conf"
    nginx -t -q -c "$tmp/nginx.conf" -p "$tmp"
fi
