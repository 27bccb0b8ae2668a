#!/usr/bin/env bash
# Instructions per operation for each memtype-bench case, counted by
# callgrind (valgrind): unlike ns/op, the count does not move with the load
# of a shared machine, so it is the figure to compare across commits.
# Each case runs twice, with N and 2N iterations, in one round; the
# difference of the totals divided by the difference of the operations
# leaves out start-up and setup.
#
# Usage: bash bench/instructions.sh [N]     (default 20000; needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
command -v valgrind >/dev/null || { echo "missing valgrind: apt-get install -y valgrind" >&2; exit 1; }
swift build -c release --product memtype-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)/memtype-bench

count() { # $1 = case name, $2 = iterations; prints "instructions ops"
    local out
    out=$(MEMTYPE_BENCH_ONLY="$1" MEMTYPE_BENCH_ROUNDS=1 valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null "$BIN" "$2" 2>&1)
    local ir ops
    ir=$(awk '/Collected :/ {print $NF}' <<<"$out")
    ops=$(grep -F "$1" <<<"$out" | sed -n 's/.*(\([0-9]*\) ops x.*/\1/p' | head -1)
    echo "$ir $ops"
}

printf '%-52s %14s\n' "case" "instr/op"
"$BIN" 20 2>/dev/null | sed -n 's/^\(.*[^ ]\)  *[0-9.]* ns\/op.*/\1/p' | while IFS= read -r name; do
    read -r i1 o1 < <(count "$name" "$N")
    read -r i2 o2 < <(count "$name" $((2 * N)))
    printf '%-52s %14s\n' "$name" "$(( (i2 - i1) / (o2 - o1) ))"
done
