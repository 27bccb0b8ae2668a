#!/usr/bin/env bash
# New-connection benchmark on loopback (not a test): clients that open a
# connection per request (`Connection: close`, as curl in a hook or a cron
# job does), side by side in each round:
#   1. memtyped GET /healthz, 2 poll threads: its own acceptor thread hands
#      each connection to libmicrohttpd (MHD_add_connection)
#   2. memtyped GET /healthz, 1 poll thread: libmicrohttpd accepts itself
#   3. nginx, 2 workers, and 4. nginx, 1 worker: a static file holding the
#      same bytes as /healthz's answer
# and, for scale, 5. memtyped (2 poll threads) with keep-alive.
#
# Usage: bash bench/conn-bench.sh [seconds-per-run] [connections]
#        ROUNDS=n (default 3; medians and per-round ratios reported).
# Needs: wrk, nginx (apt-get install -y wrk nginx-light), a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-8}
CONNS=${2:-32}
ROUNDS=${ROUNDS:-3}
WRK_THREADS=1
BIN=.build/release/memtyped
WORK=$(mktemp -d)
cleanup() {
    kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
source bench/common.sh  # rate
for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk nginx-light" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "no release build: swift build -c release" >&2; exit 1; }
chmod 755 "$WORK"  # nginx workers run as www-data

start_memtyped() {  # name port threads
    "$BIN" --host 127.0.0.1 --port "$2" --threads "$3" --db "$WORK/$1.sqlite" >"$WORK/$1.log" 2>&1 &
    echo $! >"$WORK/$1.pid"
    for _ in $(seq 100); do curl -sf "localhost:$2/healthz" >/dev/null && return; sleep 0.1; done
    echo "memtyped $1 did not start" >&2; exit 1
}
start_nginx() {  # name port workers
    mkdir -p "$WORK/www" && chmod 755 "$WORK/www"
    cat >"$WORK/$1.conf" <<NGINX
worker_processes $3;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    server { listen 127.0.0.1:$2; root $WORK/www; }
}
NGINX
    nginx -c "$WORK/$1.conf" -p "$WORK"
    for _ in $(seq 50); do curl -sf "localhost:$2/healthz" >/dev/null && return; sleep 0.1; done
    echo "nginx $1 did not start" >&2; exit 1
}
start_memtyped two 18291 2
start_memtyped one 18292 1
curl -sf localhost:18291/healthz >"$WORK/healthz.body"
mkdir -p "$WORK/www" && cp "$WORK/healthz.body" "$WORK/www/healthz"
start_nginx nginx2 18293 2
start_nginx nginx1 18294 1

CLOSE=(-H "Connection: close")
echo "memtyped $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-52s %12s %10s %8s\n' round run req/s p99 non-2xx | tee "$WORK/table"
for round in $(seq "$ROUNDS"); do
    read -r A AP AE < <(rate "${CLOSE[@]}" http://127.0.0.1:18291/healthz)
    read -r B BP BE < <(rate "${CLOSE[@]}" http://127.0.0.1:18292/healthz)
    read -r C CP CE < <(rate "${CLOSE[@]}" http://127.0.0.1:18293/healthz)
    read -r D DP DE < <(rate "${CLOSE[@]}" http://127.0.0.1:18294/healthz)
    read -r K KP KE < <(rate http://127.0.0.1:18291/healthz)
    {
        printf '%-6s %-52s %12s %10s %8s\n' "$round" "memtyped, 2 poll threads + acceptor, close" "$A" "$AP" "$AE"
        printf '%-6s %-52s %12s %10s %8s\n' "$round" "memtyped, 1 poll thread (MHD accepts), close" "$B" "$BP" "$BE"
        printf '%-6s %-52s %12s %10s %8s\n' "$round" "nginx, 2 workers, close" "$C" "$CP" "$CE"
        printf '%-6s %-52s %12s %10s %8s\n' "$round" "nginx, 1 worker, close" "$D" "$DP" "$DE"
        printf '%-6s %-52s %12s %10s %8s\n' "$round" "memtyped, 2 poll threads, keep-alive" "$K" "$KP" "$KE"
    } | tee -a "$WORK/table"
done
python3 - "$WORK/table" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
by = {}
for r in rows:
    by.setdefault(" ".join(r[1:-3]), []).append(float(r[-3]))
names = list(by)
a, b, n2, n1, k = (by[x] for x in names)
def ratio(x, y):
    rs = [p / q for p, q in zip(x, y)]
    return f"{statistics.median(rs):.2f} (spread {min(rs):.2f}-{max(rs):.2f})"
for name in names:
    print(f"median {name}: {statistics.median(by[name]):,.0f}/s")
print("acceptor (2 threads) / MHD accepting (1 thread), close:", ratio(a, b))
print("memtyped 2 threads / nginx 2 workers, close:          ", ratio(a, n2))
print("memtyped 1 thread / nginx 1 worker, close:            ", ratio(b, n1))
print("close / keep-alive, memtyped 2 threads:               ", ratio(a, k))
PY
