# Sourced by bench/http-bench.sh and bench/fleet-bench.sh: what the HTTP
# benchmarks share, said once. Expects WORK (a temp dir), VMS, WRK_THREADS,
# CONNS and DURATION to be set, and the current directory to be the checkout.

# The README's bochs example: the decision body every benchmark posts.
BODY='{"kernel":"6.16","host":{"vendor":"intel","self_snoop":true,"cpu":{"family":6,"model":"0x8f"}},"vm":{"disabled_quirks":["IGNORE_GUEST_PAT"]},"vcpu":{"pat":"0x0407050600070106"},"access":{"gpa":"0xfd000000","pat_index":2}}'

# Release builds of memtyped and memtype-bench (BIN_DIR, BIN), and SEEDED:
# bench-out/seed-$VMS.sqlite, seeded once and reused by later runs.
build_and_seed() {
    swift build -c release --product memtyped >/dev/null
    swift build -c release --product memtype-bench >/dev/null
    BIN_DIR=$(swift build -c release --show-bin-path)
    BIN=$BIN_DIR/memtyped
    mkdir -p bench-out
    SEEDED=bench-out/seed-$VMS.sqlite
    if [ ! -f "$SEEDED" ]; then
        "$BIN_DIR/memtype-bench" seed-store "$SEEDED.tmp" "$VMS"
        mv "$SEEDED.tmp" "$SEEDED"; rm -f "$SEEDED.tmp-wal" "$SEEDED.tmp-shm"
    fi
}

# A wrk script that POSTs the JSON file $1.
post_script() {
    cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$1", "rb"); wrk.body = f:read("*a"); f:close()
LUA
}

# $WORK/decision.lua (BODY) and $WORK/vm.lua (per-VM decisions of random ids
# among the VMS seeded VMs, the same sequence every run).
write_wrk_scripts() {
    printf '%s' "$BODY" >"$WORK/decision.json"
    post_script "$WORK/decision.json" >"$WORK/decision.lua"
    cat >"$WORK/vm.lua" <<LUA
math.randomseed(42)
request = function()
    return wrk.format("GET", "/v1/vms/vm-" .. math.random(0, $VMS - 1) .. "/decision?gpa=0xfd000000&pat_index=2")
end
LUA
}

rate() { # wrk args...; prints requests/s, p99 latency, non-2xx
    local out rps p99 errs
    out=$(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    echo "$rps ${p99:-?} ${errs:-0}"
}
