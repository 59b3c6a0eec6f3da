#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests, benches and scripts/cluster.sh, from Debian's
# `postgresql` package (installed when missing, as root).
#
#   scripts/postgres.sh start DIR [PORT]   initdb into DIR, start on 127.0.0.1:PORT (default: a
#                                          free one); prints the server URL, e.g.
#                                          postgres://patchbay@127.0.0.1:54329/postgres
#   scripts/postgres.sh stop DIR           stop it (DIR stays)
#   scripts/postgres.sh restart DIR        stop and start again on the same port
#
# The server runs as an unprivileged user (PostgreSQL refuses root): `postgres` when it exists.
# Local connections are trusted: the cluster lives as long as a test run, on loopback only.
set -euo pipefail

bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
    if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
        if [ "$(id -u)" = 0 ]; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq --no-install-recommends postgresql >/dev/null
            d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
        else
            echo "postgres.sh: PostgreSQL's server is not installed (apt-get install postgresql)" >&2
            exit 1
        fi
    fi
    echo "$d"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:?usage: postgres.sh start|stop|restart DIR [PORT]}
dir=${2:?usage: postgres.sh start|stop|restart DIR [PORT]}
bin=$(bindir)

case "$cmd" in
start)
    port=${3:-$(free_port)}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown postgres "$dir"; }
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U patchbay --auth=trust --encoding=UTF8 --no-sync >/dev/null
    fi
    echo "$port" > "$dir/port"
    # fsync stays on: the reliability tests kill hosts, and the restart test restarts this server.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c shared_buffers=128MB" \
        start >/dev/null
    echo "postgres://patchbay@127.0.0.1:$port/postgres"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
restart)
    "$0" stop "$dir"
    "$0" start "$dir" "$(cat "$dir/port")"
    ;;
*)
    echo "postgres.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
