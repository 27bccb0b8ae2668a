#!/usr/bin/env bash
# User-space instructions the server spends per request, counted by
# callgrind: memtyped runs under valgrind with one worker thread, a
# keep-alive client sends N and then 6N requests of one kind, and the
# difference of the two totals divided by 5N leaves out start-up. The kernel's
# share (the TCP stack) is not counted. Needs valgrind, a seeded store
# (bench/http-bench.sh creates bench-out/seed-100000.sqlite) for the per-VM case.
#
# Note: callgrind counts each byte of libmicrohttpd's `rep stosb` pool reset
# (16 KiB per kept-alive request) as an instruction, about 24.5k per request
# here, which perf shows to be ~2% of cycles; subtract it to compare handlers.
#
# The last row is the reference: nginx (one worker, under callgrind too)
# serving the decision's response bytes as a static file over one
# keep-alive connection, the same way.
#
# Usage: bash bench/server-instructions.sh [N]     (default 200)
#        KINDS="healthz decision" bash bench/server-instructions.sh   (a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
PORT=${PORT:-18196}
command -v valgrind >/dev/null || { echo "missing valgrind: apt-get install -y valgrind" >&2; exit 1; }
swift build -c release --product memtyped >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# valgrind 3.19 cannot read Swift 6's DWARF 5: count a stripped copy.
strip -o "$WORK/memtyped" "$(swift build -c release --show-bin-path)/memtyped"
SEEDED=bench-out/seed-100000.sqlite

count() { # kind requests -> instructions for the whole run
    rm -f "$WORK"/db.sqlite*
    case "$1" in
    vm*)
        [ -f "$SEEDED" ] || { echo "no $SEEDED: run bash bench/http-bench.sh once to seed it" >&2; exit 1; }
        cp "$SEEDED" "$WORK/db.sqlite" ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$WORK/memtyped" \
        --port "$PORT" --threads 1 --db "$WORK/db.sqlite" >/dev/null 2>"$WORK/vg.log" &
    local pid=$!
    for _ in $(seq 200); do curl -sf "localhost:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.25; done
    python3 bench/keepalive_client.py "$PORT" "$2" "$1"
    kill -TERM "$pid"
    wait "$pid"
    awk '/Collected :/ {print $NF}' "$WORK/vg.log"
}

printf '%-10s %22s\n' "request" "instructions/request"
# vm: random ids among 100,000 (decision-memo misses); vm-repeat: 100 ids in turn (hits)
for kind in ${KINDS:-healthz decision vm vm-repeat}; do
    a=$(count "$kind" "$N")
    b=$(count "$kind" $((6 * N)))
    printf '%-10s %22s\n' "$kind" "$(( (b - a) / (5 * N) ))"
done

command -v nginx >/dev/null || { echo "no nginx: the reference row is skipped" >&2; exit 0; }
mkdir -p "$WORK/www"
chmod 755 "$WORK" "$WORK/www"  # a root nginx may still drop to www-data for files
BODY=$(python3 -c 'import sys; sys.path.insert(0, "bench"); import keepalive_client as k; sys.stdout.write(k.BODY.decode())')
"$(swift build -c release --show-bin-path)/memtyped" --port "$PORT" --threads 1 --db "$WORK/ref.sqlite" 2>/dev/null &
ref=$!
for _ in $(seq 50); do curl -sf "localhost:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "localhost:$PORT/v1/decisions" -H 'Content-Type: application/json' -d "$BODY" >"$WORK/www/decision.json"
kill "$ref"; wait "$ref" 2>/dev/null || true
cat >"$WORK/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
NGINX
count_nginx() { # requests -> instructions for the whole run
    valgrind --tool=callgrind --callgrind-out-file=/dev/null nginx -c "$WORK/nginx.conf" -p "$WORK" 2>"$WORK/vg.log" &
    local pid=$!
    for _ in $(seq 200); do curl -sf "localhost:$PORT/decision.json" >/dev/null 2>&1 && break; sleep 0.25; done
    python3 bench/keepalive_client.py "$PORT" "$1" static
    kill -QUIT "$pid"
    wait "$pid" || true
    awk '/Collected :/ {print $NF}' "$WORK/vg.log"
}
a=$(count_nginx "$N")
b=$(count_nginx $((6 * N)))
printf '%-10s %22s\n' "nginx" "$(( (b - a) / (5 * N) ))"
