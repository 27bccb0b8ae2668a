#!/usr/bin/env bash
# User-space instructions the server spends per request, counted by
# callgrind: memtyped runs under valgrind with one worker thread, a
# keep-alive client sends N and then 6N requests of one kind, and the
# difference of the two totals divided by 5N leaves out start-up. The kernel's
# share (the TCP stack) is not counted. Needs valgrind, a seeded store
# (bench/http-bench.sh creates bench-out/seed-100000.sqlite) for the per-VM case.
#
# Note: callgrind counts each byte of libmicrohttpd's `rep stosb` pool reset
# (32 KiB per kept-alive request) as an instruction, about 49k per request
# here, which perf shows to be ~3% of cycles; subtract it to compare handlers.
#
# Usage: bash bench/server-instructions.sh [N]     (default 200)
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
[ -f "$SEEDED" ] || { echo "no $SEEDED: run bash bench/http-bench.sh once to seed it" >&2; exit 1; }

count() { # kind requests -> instructions for the whole run
    cp "$SEEDED" "$WORK/db.sqlite"
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
for kind in healthz decision vm vm-repeat; do
    a=$(count "$kind" "$N")
    b=$(count "$kind" $((6 * N)))
    printf '%-10s %22s\n' "$kind" "$(( (b - a) / (5 * N) ))"
done
