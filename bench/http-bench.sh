#!/usr/bin/env bash
# HTTP benchmark on loopback (not a test): one run reports, side by side,
#   1. GET /healthz                 - memtyped's own ceiling
#   2. POST /v1/decisions           - the README's example body
#   3. POST /v1/decisions/batch     - 100 decisions per request (reported as decisions/s)
#   4. nginx GET of a static file holding the same response bytes as (2)
#      - the practical ceiling of this machine
#   5. GET /v1/vms/{id}/decision for random ids among VMS (default 100000)
#      VMs stored in SQLite - per-VM lookups, with p99
#
# Usage: bash bench/http-bench.sh [seconds-per-run] [connections]
#        (ROUNDS=n repeats the five runs n times, default 3; medians reported)
# The seeded store is kept in bench-out/ and reused by later runs.
# Needs: wrk, nginx (apt-get install -y wrk nginx-light), a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-32}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-2}
PORT=${PORT:-18181}
NGINX_PORT=${NGINX_PORT:-18182}
WORK=$(mktemp -d)
chmod 755 "$WORK"  # nginx workers run as www-data
trap 'kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for tool in wrk nginx; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk nginx-light" >&2; exit 1; }
done

VMS=${VMS:-100000}
. bench/common.sh
build_and_seed
"$BIN" --port "$PORT" --threads "$SERVER_THREADS" --db "$SEEDED" 2>"$WORK/memtyped.log" &
echo $! >"$WORK/memtyped.pid"
for _ in $(seq 50); do curl -sf "localhost:$PORT/healthz" >/dev/null && break; sleep 0.1; done

BATCH=$(python3 -c "import sys; b=sys.argv[1]; print('{\"requests\":[' + ','.join([b]*100) + ']}')" "$BODY")
write_wrk_scripts
printf '%s' "$BATCH" >"$WORK/batch.json"
post_script "$WORK/batch.json" >"$WORK/batch.lua"

# nginx serves the very bytes memtyped answers, as a static file.
mkdir -p "$WORK/www" && chmod 755 "$WORK/www"
curl -sf "localhost:$PORT/v1/decisions" -H 'Content-Type: application/json' -d "$BODY" >"$WORK/www/decision.json"
cat >"$WORK/nginx.conf" <<NGINX
worker_processes $SERVER_THREADS;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
NGINX
nginx -c "$WORK/nginx.conf" -p "$WORK"
for _ in $(seq 50); do curl -sf "localhost:$NGINX_PORT/decision.json" >/dev/null && break; sleep 0.1; done

ROUNDS=${ROUNDS:-3}
echo "memtyped $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, server threads $SERVER_THREADS, $ROUNDS rounds"
# The five runs go back to back in each round, and the rounds repeat, so
# that each ratio compares runs made under the same load of a shared
# machine; the summary takes the median over rounds.
printf '%-6s %-44s %12s %10s %8s\n' "round" "run" "req/s" "p99" "non-2xx" | tee "$WORK/table"
for round in $(seq "$ROUNDS"); do
    read -r H HP HE < <(rate "http://127.0.0.1:$PORT/healthz")
    read -r D DP DE < <(rate -s "$WORK/decision.lua" "http://127.0.0.1:$PORT/v1/decisions")
    read -r B BP BE < <(rate -s "$WORK/batch.lua" "http://127.0.0.1:$PORT/v1/decisions/batch")
    read -r N NP NE < <(rate "http://127.0.0.1:$NGINX_PORT/decision.json")
    read -r V VP VE < <(rate -s "$WORK/vm.lua" "http://127.0.0.1:$PORT/")
    printf '%-6s %-44s %12s %10s %8s\n' "$round" "memtyped GET /healthz" "$H" "$HP" "$HE"
    printf '%-6s %-44s %12s %10s %8s\n' "$round" "memtyped POST /v1/decisions" "$D" "$DP" "$DE"
    printf '%-6s %-44s %12s %10s %8s\n' "$round" "memtyped POST /v1/decisions/batch (x100)" "$B" "$BP" "$BE"
    printf '%-6s %-44s %12s %10s %8s\n' "$round" "nginx GET static decision bytes" "$N" "$NP" "$NE"
    printf '%-6s %-44s %12s %10s %8s\n' "$round" "memtyped GET /v1/vms/{id}/decision ($VMS VMs)" "$V" "$VP" "$VE"
    echo "$H $D $B $N $V" >>"$WORK/rates"
done
python3 - "$WORK/rates" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
med = lambda xs: statistics.median(xs)
h, d, b, n, v = (med(col) for col in zip(*rows))
ratio = lambda i, j: med([r[i] / r[j] for r in rows])
print(f"median req/s: healthz {h:,.0f}  decision {d:,.0f}  batch {b:,.0f} ({b*100:,.0f} decisions/s)  nginx {n:,.0f}  per-VM {v:,.0f}")
print(f"decision / healthz = {ratio(1, 0):.2f}  (median of per-round ratios; target >= 0.70)")
print(f"decision / nginx   = {ratio(1, 3):.2f}  (target >= 1.00)")
print(f"per-VM / healthz   = {ratio(4, 0):.2f}  (target >= 0.50)")
PY
