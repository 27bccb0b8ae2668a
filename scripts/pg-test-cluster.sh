#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (and benchmarks).
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # initdb + pg_ctl start in a temp dir;
#                                                 # prints exports of MEMTYPED_TEST_PG_URL
#                                                 # and MEMTYPED_TEST_PG_DIR
#   scripts/pg-test-cluster.sh server-stop DIR    # stop the server, keep the data (outage tests)
#   scripts/pg-test-cluster.sh server-start DIR   # start it again on the same port
#   scripts/pg-test-cluster.sh stop DIR           # stop and remove everything
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to an
# unprivileged system user (memtyped-ci, created if missing) and every server
# command runs through runuser. The server listens on 127.0.0.1 only, on a free
# port, with its socket in DIR; trust authentication (loopback, a temp cluster).
# Binaries: PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian's layout).
# Exits non-zero when anything fails, so CI fails if the cluster does not start.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PG_BIN/initdb" ] || { echo "pg-test-cluster: no initdb (install Debian's postgresql, or set PG_BIN)" >&2; exit 1; }
CI_USER=memtyped-ci

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$CI_USER" -- "$@"; else "$@"; fi
}

server_start() {
    local dir=$1 port
    port=$(cat "$dir/port")
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >&2 \
        || { cat "$dir/server.log" >&2; exit 1; }
}

case "${1:-}" in
start)
    if [ "$(id -u)" = 0 ] && ! id "$CI_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$CI_USER"
    fi
    dir=$(mktemp -d /tmp/memtyped-pg.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown "$CI_USER" "$dir"
    as_owner "$PG_BIN/initdb" -D "$dir/data" -A trust -U memtyped -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$dir/port"
    server_start "$dir"
    port=$(cat "$dir/port")
    as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U memtyped memtyped
    echo "export MEMTYPED_TEST_PG_URL=postgresql://memtyped@127.0.0.1:$port/memtyped"
    echo "export MEMTYPED_TEST_PG_DIR=$dir"
    ;;
server-stop)
    as_owner "$PG_BIN/pg_ctl" -D "$2/data" -m fast -w stop >&2
    ;;
server-start)
    server_start "$2"
    ;;
stop)
    dir=$2
    case "$dir" in /tmp/memtyped-pg.*) ;; *) echo "pg-test-cluster: not a cluster dir: $dir" >&2; exit 1 ;; esac
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start | server-stop DIR | server-start DIR | stop DIR" >&2
    exit 2
    ;;
esac
