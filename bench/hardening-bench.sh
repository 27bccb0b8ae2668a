#!/usr/bin/env bash
# Issue 16's attacks against a memtyped binary, ROUNDS rounds each on a
# fresh server: item 1's upload flood (1,000 x PUT /v1/vms/x1, text/plain,
# Content-Length 1 MiB, no token, body sent; the server's peak RSS) and
# item 2's slowloris (1,100 trickling connections; how long a normal client
# waits for GET /healthz). Python 3 standard library only.
#
# Usage: bash bench/hardening-bench.sh [BINARY] [ROUNDS]
#        (default: this checkout's release build, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
ROUNDS=${2:-3}
PORT=${PORT:-18197}
if [ -z "$BIN" ]; then
    swift build -c release --product memtyped >/dev/null
    BIN="$(swift build -c release --show-bin-path)/memtyped"
fi
ulimit -n 8192
WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

start() {
    rm -f "$WORK"/db.sqlite*
    "$BIN" --port "$PORT" --threads 2 --db "$WORK/db.sqlite" 2>/dev/null &
    PID=$!
    for _ in $(seq 100); do curl -sf "localhost:$PORT/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
    echo "server did not start" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

for r in $(seq "$ROUNDS"); do
    start; echo "upload flood, round $r: $(python3 bench/upload_flood.py "$PORT" "$PID" 1000)"; stop
done
for r in $(seq "$ROUNDS"); do
    start; echo "slowloris, round $r: $(python3 bench/slowloris.py "$PORT" 1100 5)"; stop
done
