#!/usr/bin/env bash
# Fleet-store benchmark on loopback (not a test): one run reports, side by side,
#   1. GET /healthz                          - memtyped's own ceiling, on each instance
#   2. GET /v1/vms/{id}/decision, SQLite     - random ids among VMS (default 100000)
#   3. GET /v1/vms/{id}/decision, PostgreSQL - the same VMs in a PostgreSQL store
#   4. POST /v1/decisions alone              - on the PostgreSQL instance
#   5. POST /v1/decisions while a second wrk drives per-VM lookups on the
#      same instance, SQLite, then PostgreSQL (decisions/s reported; the
#      lookups' own rate beside it)
#   6. pgbench running the per-VM lookup's SELECT alone (prepared, random
#      ids, PGBENCH_CLIENTS clients, default 8): the database's ceiling for
#      one round trip per lookup, with no HTTP in the loop
# and, per round, where the CPU went during 5 with PostgreSQL (bench/cpu-split.py).
#
# Usage: bash bench/fleet-bench.sh [seconds-per-run] [connections]
#        ROUNDS=n (default 3; medians reported), SERVER_THREADS (poll
#        threads, default 2), PG_SERVER_THREADS (the PostgreSQL instance's,
#        default SERVER_THREADS), STORE_THREADS and STORE_PRIORITY (both
#        instances' --store-threads and --store-priority; default memtyped's own).
# PostgreSQL: MEMTYPED_BENCH_PG_URL, else a throwaway cluster from
# scripts/pg-test-cluster.sh (removed at exit). The seeded SQLite file is
# kept in bench-out/ (shared with http-bench.sh); the PostgreSQL store is
# seeded into schema bench_VMS once and reused.
# Needs: wrk (apt-get install -y wrk), PostgreSQL, a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
CONNS=${2:-32}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-2}
PG_SERVER_THREADS=${PG_SERVER_THREADS:-$SERVER_THREADS}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-8}
PORT=${PORT:-18191}
PG_PORT=${PG_PORT:-18192}
VMS=${VMS:-100000}
WORK=$(mktemp -d)
CLUSTER=""
cleanup() {
    kill $(cat "$WORK"/*.pid 2>/dev/null) 2>/dev/null || true
    rm -rf "$WORK"
    [ -z "$CLUSTER" ] || bash scripts/pg-test-cluster.sh stop "$CLUSTER"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "missing wrk: apt-get install -y wrk" >&2; exit 1; }

if [ -z "${MEMTYPED_BENCH_PG_URL:-}" ]; then
    pg_env=$(bash scripts/pg-test-cluster.sh start)
    eval "$pg_env"
    CLUSTER=$MEMTYPED_TEST_PG_DIR
    MEMTYPED_BENCH_PG_URL=$MEMTYPED_TEST_PG_URL
fi
SCHEMA=bench_$VMS
PG_URL="$MEMTYPED_BENCH_PG_URL$([[ $MEMTYPED_BENCH_PG_URL == *\?* ]] && echo '&' || echo '?')options=-csearch_path%3D$SCHEMA"

. bench/common.sh
build_and_seed
if [ "$(psql "$MEMTYPED_BENCH_PG_URL" -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = '$SCHEMA' AND tablename = 'vms'")" = 0 ]; then
    psql "$MEMTYPED_BENCH_PG_URL" -qc "CREATE SCHEMA IF NOT EXISTS $SCHEMA"
fi
"$BIN_DIR/memtype-bench" seed-store "$PG_URL" "$VMS"  # skips existing ids

start() { # name port threads db
    "$BIN" --port "$2" --threads "$3" --db "$4" ${STORE_THREADS:+--store-threads "$STORE_THREADS"} \
        ${STORE_PRIORITY:+--store-priority "$STORE_PRIORITY"} 2>"$WORK/$1.log" &
    echo $! >"$WORK/$1.pid"
    for _ in $(seq 100); do curl -sf "localhost:$2/healthz" >/dev/null && return; sleep 0.1; done
    echo "memtyped ($1) did not start:" >&2; cat "$WORK/$1.log" >&2; exit 1
}
start sqlite "$PORT" "$SERVER_THREADS" "$SEEDED"
start pg "$PG_PORT" "$PG_SERVER_THREADS" "$PG_URL"

write_wrk_scripts
for p in "$PORT" "$PG_PORT"; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "localhost:$p/v1/vms/vm-$((VMS - 1))/decision?gpa=0xfd000000&pat_index=2")" = 200 ] \
        || { echo "the store on port $p does not hold vm-$((VMS - 1))" >&2; exit 1; }
done

# Decisions and per-VM lookups at once on one instance: $1 = port; the CPU
# split over the middle of the run goes to $WORK/cpu.
together() {
    rate -s "$WORK/vm.lua" "http://127.0.0.1:$1/" >"$WORK/bg" &
    local bg=$!
    (sleep 1; python3 bench/cpu-split.py "$((DURATION > 3 ? DURATION - 2 : 1))" >"$WORK/cpu") &
    local split=$!
    rate -s "$WORK/decision.lua" "http://127.0.0.1:$1/v1/decisions"
    wait "$bg" "$split"
    cat "$WORK/bg"
}

# The lookup's statement as PostgresVMStore prepares it (from the binary, not restated).
{
    echo "\\set n random(0, $((VMS - 1)))"
    "$BIN_DIR/memtype-bench" lookup-sql | tr '\n' ' ' | sed "s/\\\$1/'vm-' || :n/"
    echo
} >"$WORK/lookup.sql"
pgrate() {
    pgbench -n -M prepared -f "$WORK/lookup.sql" -c "$PGBENCH_CLIENTS" -j 2 -T "$DURATION" "$PG_URL" 2>/dev/null \
        | awk '/^tps/ {print $3; exit}'
}

ROUNDS=${ROUNDS:-3}
echo "memtyped $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s, server threads: SQLite $SERVER_THREADS, PostgreSQL $PG_SERVER_THREADS, store threads ${STORE_THREADS:-default}, store priority ${STORE_PRIORITY:-default}, $ROUNDS rounds, $VMS VMs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-58s %12s %10s %8s\n' "round" "run" "req/s" "p99" "non-2xx"
for round in $(seq "$ROUNDS"); do
    read -r H HP HE < <(rate "http://127.0.0.1:$PORT/healthz")
    read -r HQ HQP HQE < <(rate "http://127.0.0.1:$PG_PORT/healthz")
    read -r S SP SE < <(rate -s "$WORK/vm.lua" "http://127.0.0.1:$PORT/")
    read -r P PP PE < <(rate -s "$WORK/vm.lua" "http://127.0.0.1:$PG_PORT/")
    read -r D DP DE < <(rate -s "$WORK/decision.lua" "http://127.0.0.1:$PG_PORT/v1/decisions")
    { read -r DS DSP DSE; read -r LS LSP LSE; } < <(together "$PORT")
    { read -r DQ DQP DQE; read -r LQ LQP LQE; } < <(together "$PG_PORT")
    G=$(pgrate)
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "GET /healthz, SQLite instance" "$H" "$HP" "$HE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "GET /healthz, PostgreSQL instance" "$HQ" "$HQP" "$HQE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "per-VM lookups, SQLite" "$S" "$SP" "$SE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "per-VM lookups, PostgreSQL" "$P" "$PP" "$PE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "POST /v1/decisions alone (PostgreSQL instance)" "$D" "$DP" "$DE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "POST /v1/decisions with lookups running, SQLite" "$DS" "$DSP" "$DSE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "  ... the lookups meanwhile, SQLite" "$LS" "$LSP" "$LSE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "POST /v1/decisions with lookups running, PostgreSQL" "$DQ" "$DQP" "$DQE"
    printf '%-6s %-58s %12s %10s %8s\n' "$round" "  ... the lookups meanwhile, PostgreSQL" "$LQ" "$LQP" "$LQE"
    printf '%-6s %-58s %12s\n' "$round" "pgbench: the lookup's SELECT alone" "$G"
    printf '%-6s %s\n' "$round" "CPU during decisions with PostgreSQL lookups: $(cat "$WORK/cpu")"
    echo "$H $S $P $D $DS $LS $DQ $LQ $HQ $G" >>"$WORK/rates"
done
python3 - "$WORK/rates" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
med = statistics.median
def ratio(i, j):
    rs = [r[i] / r[j] for r in rows]
    return f"{med(rs):.2f} (spread {min(rs):.2f}-{max(rs):.2f})"
h, s, p, d, ds, ls, dq, lq, hq, g = (med(col) for col in zip(*rows))
print(f"median req/s: healthz {h:,.0f} (SQLite instance), {hq:,.0f} (PostgreSQL instance)  per-VM SQLite {s:,.0f}  "
      f"per-VM PostgreSQL {p:,.0f}  decisions alone {d:,.0f} (PostgreSQL instance)")
print(f"  pgbench, the lookup's SELECT alone: {g:,.0f}/s; per-VM PostgreSQL over HTTP / pgbench = {ratio(2, 9)}")
print(f"  decisions with lookups: SQLite {ds:,.0f} (+{ls:,.0f} lookups)  PostgreSQL {dq:,.0f} (+{lq:,.0f} lookups)")
print("ratios to each instance's own healthz (median of per-round ratios, spread):")
print(f"  per-VM PostgreSQL / healthz                 = {ratio(2, 8)}  (target >= 0.20)")
print(f"  per-VM SQLite / healthz                     = {ratio(1, 0)}")
print(f"  decisions with SQLite lookups / healthz     = {ratio(4, 0)}  (target >= 0.70)")
print(f"  decisions with PostgreSQL lookups / healthz = {ratio(6, 8)}  (target >= 0.70)")
print(f"  decisions with PostgreSQL lookups / decisions alone = {ratio(6, 3)}")
PY
