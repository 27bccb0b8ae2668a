#!/usr/bin/env bash
# Fleet planning benchmark (issue 14): a kernel plan over VMS VMs on one host
# profile, fetched page by page (limit=1000) until next_cursor is null, and
# the risk listing over the same VMs, page by page; ROUNDS rounds each, the
# median and the spread (min-max) printed. Targets: each under 3 s for
# 100,000 VMs.
#
#   bash bench/plan-bench.sh [VMS]          (default 100000; ROUNDS=3)
#   PLAN_BENCH_PG=1 bash bench/plan-bench.sh [VMS]
#
# Builds release memtyped and memtype-bench, seeds the VMs once
# (`memtype-bench seed-plan`: all on profile spr-6-16, Sapphire Rapids on
# 6.16; both baselines, TDX and non-coherent DMA VMs, two in three with VGA,
# guest kernels 6.1, 6.8 and 6.13) and reuses them: on SQLite in
# bench-out/plan-$VMS.sqlite (served from a copy), or with PLAN_BENCH_PG=1 on
# PostgreSQL in schema plan_$VMS of MEMTYPED_BENCH_PG_URL (default: a
# throwaway cluster from scripts/pg-test-cluster.sh, removed at the end).
# memtyped serves on a free loopback port; the pages are timed over one
# keep-alive connection (Python's http.client and json: the client's parsing
# is in the time, as a real caller's would be). The server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
VMS=${1:-100000}
ROUNDS=${ROUNDS:-3}

swift build -c release --product memtyped >/dev/null
swift build -c release --product memtype-bench >/dev/null
BIN_DIR=$(swift build -c release --show-bin-path)
mkdir -p bench-out

WORK=$(mktemp -d)
PID=""
CLUSTER=""
cleanup() {
    [ -z "$PID" ] || kill "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -z "$CLUSTER" ] || bash scripts/pg-test-cluster.sh stop "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${PLAN_BENCH_PG:-}" ]; then
    if [ -z "${MEMTYPED_BENCH_PG_URL:-}" ]; then
        eval "$(bash scripts/pg-test-cluster.sh start)"
        CLUSTER=$MEMTYPED_TEST_PG_DIR
        MEMTYPED_BENCH_PG_URL=$MEMTYPED_TEST_PG_URL
    fi
    SCHEMA=plan_$VMS
    psql "$MEMTYPED_BENCH_PG_URL" -qc "CREATE SCHEMA IF NOT EXISTS $SCHEMA"
    DB="$MEMTYPED_BENCH_PG_URL$([[ $MEMTYPED_BENCH_PG_URL == *\?* ]] && echo '&' || echo '?')options=-csearch_path%3D$SCHEMA"
    "$BIN_DIR/memtype-bench" seed-plan "$DB" "$VMS"  # skips seeded batches
    BACKEND=PostgreSQL
else
    SEEDED=bench-out/plan-$VMS.sqlite
    if [ ! -f "$SEEDED" ]; then
        "$BIN_DIR/memtype-bench" seed-plan "$SEEDED.tmp" "$VMS"
        mv "$SEEDED.tmp" "$SEEDED"; rm -f "$SEEDED.tmp-wal" "$SEEDED.tmp-shm"
    fi
    cp "$SEEDED" "$WORK/store.sqlite"
    DB=$WORK/store.sqlite
    BACKEND=SQLite
fi

"$BIN_DIR/memtyped" --host 127.0.0.1 --port 0 --db "$DB" 2>"$WORK/log" &
PID=$!
PORT=""
for _ in $(seq 1 300); do
    PORT=$(sed -n 's|.*memtyped listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$WORK/log" | head -n 1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/log" >&2; echo "memtyped did not start" >&2; exit 1; }
echo "memtyped $(git rev-parse --short HEAD) on $BACKEND, 127.0.0.1:$PORT, $VMS VMs on spr-6-16, $ROUNDS rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$PORT" "$ROUNDS" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
port, rounds = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

def walk(path):
    """All pages of `path`; returns (seconds, items, pages, page 1, bytes, seconds in json.loads)."""
    items = pages = nbytes = 0
    parsing = 0.0
    cursor = None
    first = None
    start = time.perf_counter()
    while True:
        target = path + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        conn.request("GET", target)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"{target}: {r.status} {body[:300]!r}")
        t = time.perf_counter()
        page = json.loads(body)
        parsing += time.perf_counter() - t
        nbytes += len(body)
        first = first or page
        items += len(page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return time.perf_counter() - start, items, pages, first, nbytes, parsing

for name, path in [("kernel plan 6.16 -> 6.15", "/v1/hosts/spr-6-16/kernel-plan?kernel=6.15&limit=1000"),
                   ("risks", "/v1/risks?limit=1000")]:
    times, parses = [], []
    for _ in range(rounds):
        t, items, pages, first, nbytes, parsing = walk(path)
        times.append(t)
        parses.append(parsing)
    extra = ""
    if "summary" in first:
        s = first["summary"]
        extra = f"; summary: {s['vms']} VMs, {s['changes']['memory_types']} memory_types, {s['changes']['enable_cap_fails']} enable_cap_fails"
    print(f"{name}: {items} items in {pages} pages: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}; rounds {', '.join(f'{x:.2f}' for x in times)}); "
          f"{nbytes / 1e6:.1f} MB, of which the client's json.loads took a median {statistics.median(parses):.2f} s{extra}")
PY
