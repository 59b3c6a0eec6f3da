#!/usr/bin/env bash
# Several Patchbay hosts on one PostgreSQL database behind nginx, from local binaries (the
# topology of deploy/compose.yaml without containers). The cluster tests run it.
#
#   scripts/cluster.sh start DIR [N]     PostgreSQL (scripts/postgres.sh), a database, N hosts
#                                        (default 3) and nginx balancing them; writes
#                                        DIR/cluster.env (LB_URL, HOST_URL_<i>, DATABASE_URL,
#                                        ADMIN_TOKEN) and prints it
#   scripts/cluster.sh stop DIR          stops everything
#   scripts/cluster.sh kill DIR I        kill -9 host I (1-based)
#   scripts/cluster.sh start-host DIR I  starts host I again, on its port, and waits for it
#   scripts/cluster.sh restart-db DIR    restarts PostgreSQL (the hosts stay up)
#
# PATCHBAY_BIN: the binary (default target/release/patchbay, else target/debug/patchbay);
# PATCHBAY_SERVE_ARGS: more `serve` arguments; PATCHBAY_CONNECTORS: the connectors directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cmd=${1:?usage: cluster.sh start|stop|kill|start-host|restart-db DIR [ARG]}
dir=${2:?usage: cluster.sh COMMAND DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bin=${PATCHBAY_BIN:-}
if [ -z "$bin" ]; then
    if [ -x target/release/patchbay ]; then bin=$root/target/release/patchbay; else bin=$root/target/debug/patchbay; fi
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_healthy() {
    local url=$1
    for _ in $(seq 1 600); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url/healthz" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "cluster.sh: $url did not become healthy" >&2
    return 1
}

start_host() {
    local i=$1
    # shellcheck disable=SC1091
    source "$dir/cluster.env"
    local port_var="HOST_PORT_$i" metrics_var="METRICS_PORT_$i"
    # shellcheck disable=SC2086
    PATCHBAY_SECRET_KEY=$SECRET_KEY PATCHBAY_LOG=${PATCHBAY_LOG:-warn} \
        nohup "$bin" serve --listen "127.0.0.1:${!port_var}" --database "$DATABASE_URL" \
        --connectors "${PATCHBAY_CONNECTORS:-$root/connectors}" \
        --metrics-listen "127.0.0.1:${!metrics_var}" \
        --wasm-cache-dir "$dir/wasm-cache-$i" ${PATCHBAY_SERVE_ARGS:-} \
        >>"$dir/host-$i.log" 2>&1 &
    echo $! >"$dir/host-$i.pid"
    wait_healthy "http://127.0.0.1:${!port_var}"
}

case "$cmd" in
start)
    n=${3:-3}
    server=$(scripts/postgres.sh start "$dir/pg")
    psql "$server" -qc "CREATE DATABASE patchbay" 2>/dev/null || true
    db=${server%/postgres}/patchbay
    lb_port=$(free_port)
    {
        echo "HOSTS=$n"
        echo "DATABASE_URL=$db"
        echo "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        echo "LB_URL=http://127.0.0.1:$lb_port"
        for i in $(seq 1 "$n"); do
            p=$(free_port)
            echo "HOST_PORT_$i=$p"
            echo "HOST_URL_$i=http://127.0.0.1:$p"
            echo "METRICS_PORT_$i=$(free_port)"
        done
    } >"$dir/cluster.env"
    # The first host applies the migrations; the others find them applied.
    for i in $(seq 1 "$n"); do start_host "$i"; done
    # shellcheck disable=SC1091
    source "$dir/cluster.env"
    echo "ADMIN_TOKEN=$("$bin" token create --admin --database "$DATABASE_URL")" >>"$dir/cluster.env"
    {
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/nginx-error.log;"
        echo "events { worker_connections 4096; }"
        echo "http {"
        echo "  access_log off;"
        echo "  client_body_temp_path $dir/nginx-body;"
        echo "  proxy_temp_path $dir/nginx-proxy;"
        echo "  upstream patchbay {"
        for i in $(seq 1 "$n"); do
            v="HOST_PORT_$i"
            echo "    server 127.0.0.1:${!v} max_fails=1 fail_timeout=2s;"
        done
        echo "    keepalive 64;"
        echo "  }"
        echo "  server {"
        echo "    listen 127.0.0.1:$lb_port;"
        echo "    client_max_body_size 64m;"
        echo "    location / {"
        echo "      proxy_pass http://patchbay;"
        echo "      proxy_http_version 1.1;"
        echo "      proxy_set_header Connection \"\";"
        echo "      proxy_set_header Host \$host;"
        echo "      proxy_next_upstream error timeout;"
        echo "      proxy_connect_timeout 2s;"
        echo "    }"
        echo "  }"
        echo "}"
    } >"$dir/nginx.conf"
    command -v nginx >/dev/null || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
    }
    nginx -c "$dir/nginx.conf" -p "$dir" 2>/dev/null || nginx -c "$dir/nginx.conf" -p "$dir"
    wait_healthy "http://127.0.0.1:$lb_port"
    cat "$dir/cluster.env"
    ;;
stop)
    [ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
    for f in "$dir"/host-*.pid; do
        [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    done
    sleep 1
    scripts/postgres.sh stop "$dir/pg" || true
    ;;
kill)
    i=${3:?host number}
    kill -9 "$(cat "$dir/host-$i.pid")"
    ;;
start-host)
    start_host "${3:?host number}"
    ;;
restart-db)
    scripts/postgres.sh restart "$dir/pg" >/dev/null
    ;;
*)
    echo "cluster.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
