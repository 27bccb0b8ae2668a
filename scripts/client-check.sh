#!/usr/bin/env bash
# The contract as integrators use it: clients generated from openapi.yaml.
#
# 1. Swift: builds clients/swift-check, whose target generates a client from
#    openapi.yaml with swift-openapi-generator's build plugin and compiles it
#    (with swift-openapi-urlsession); then runs the generator the build made on
#    openapi.yaml again and fails on any diagnostic it prints (it skips what it
#    cannot read with a warning), checks that its output models every member
#    of every object schema (clients/swift-check/check_members.py: it drops
#    some without a word), and asks a live memtyped's /healthz through the
#    generated client over URLSession.
# 2. Python: generates a client with openapi-python-client (pinned, in a venv),
#    fails on any warning it prints, and calls every operation of a live
#    memtyped through it once (clients/python-check/call_every_operation.py).
#
# Nothing generated is kept in the tree: the Swift client lives in
# clients/swift-check/.build, the Python one in a temporary folder.
#
# Usage: scripts/client-check.sh PATH/TO/memtyped
# Environment (optional):
#   CLIENT_CHECK_VENV   where openapi-python-client lives (default ./.venv-client)
set -euo pipefail
cd "$(dirname "$0")/.."

MEMTYPED_BIN=$(realpath "${1:?usage: scripts/client-check.sh PATH/TO/memtyped}")
SPEC=$PWD/openapi.yaml
VENV=$(realpath -m "${CLIENT_CHECK_VENV:-.venv-client}")
SWIFT_PKG=clients/swift-check
# Pinned so that a new release cannot change the verdict under CI; bump on purpose.
PYTHON_CLIENT_GENERATOR=openapi-python-client==0.29.1
PYYAML=PyYAML==6.0.3

log() { printf '== client-check: %s\n' "$*" >&2; }
die() { printf '== client-check: FAILED: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. Swift ----------------------------------------------------------------
log "swift build in $SWIFT_PKG (the generator, the runtime, URLSession transport, the generated client)"
t0=$(date +%s)
swift build --package-path "$SWIFT_PKG" >"$WORK/swift-build.log" 2>&1 || {
    grep -E "error|warning: .*(not supported|skipping)" "$WORK/swift-build.log" | head -50 >&2
    die "the Swift client did not generate or compile (full log: swift build --package-path $SWIFT_PKG)"
}
log "Swift client built in $(($(date +%s) - t0)) s"

GENERATOR=$(find "$SWIFT_PKG/.build" -name swift-openapi-generator-tool -type f -perm -u+x | head -n 1)
[ -n "$GENERATOR" ] || die "the build left no swift-openapi-generator-tool under $SWIFT_PKG/.build"
"$GENERATOR" generate "$SPEC" --config "$SWIFT_PKG/Sources/MemTypedClient/openapi-generator-config.yaml" \
    --output-directory "$WORK/swift-generated" >"$WORK/swift-generate.log" 2>&1 ||
    { cat "$WORK/swift-generate.log" >&2; die "swift-openapi-generator failed on $SPEC"; }
if grep -E "(warning|error):" "$WORK/swift-generate.log" >&2; then
    die "swift-openapi-generator does not read all of $SPEC (above)"
fi
log "swift-openapi-generator read $SPEC without a diagnostic"

# --- 2. Python tools -----------------------------------------------------------
tools_ok() {
    "$VENV/bin/python" -c '
import sys
from importlib.metadata import version
sys.exit([version("openapi-python-client"), version("PyYAML")] != [a.split("==")[1] for a in sys.argv[1:]])
' "$PYTHON_CLIENT_GENERATOR" "$PYYAML" 2>/dev/null
}
if ! tools_ok; then
    log "installing $PYTHON_CLIENT_GENERATOR and $PYYAML into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV (apt-get install python3-venv)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$PYTHON_CLIENT_GENERATOR" "$PYYAML" ||
        die "pip install"
    tools_ok || die "the Python tools did not install"
fi
"$VENV/bin/python" "$SWIFT_PKG/check_members.py" "$SPEC" "$WORK/swift-generated" ||
    die "the generated Swift client leaves out members of openapi.yaml's schemas (above)"

# --- 3. The Python client ------------------------------------------------------
# ruff (installed with the generator) formats the output; it must be on PATH,
# or the generator warns that it is not.
PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate --path "$SPEC" --meta none \
    --config clients/python-check/config.yaml --output-path "$WORK/python/memtyped_client" \
    >"$WORK/python-generate.log" 2>&1 || { cat "$WORK/python-generate.log" >&2; die "openapi-python-client failed"; }
if grep -v -E '^(Generating .*)?$' "$WORK/python-generate.log" >&2; then
    die "openapi-python-client does not read all of $SPEC (its warnings are above)"
fi
log "openapi-python-client read $SPEC without a warning"

# --- 4. Live: every operation through the Python client, /healthz through Swift's
"$VENV/bin/python" clients/python-check/call_every_operation.py \
    --bin "$MEMTYPED_BIN" --client "$WORK/python" --spec "$SPEC" ||
    die "the Python client's calls (above)"

"$MEMTYPED_BIN" --host 127.0.0.1 --port 0 --threads 2 2>"$WORK/memtyped.log" &
SERVER_PID=$!
PORT=""
for _ in $(seq 1 300); do
    PORT=$(sed -n 's|.*memtyped listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$WORK/memtyped.log" | head -n 1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/memtyped.log" >&2; die "memtyped did not report its port"; }
"$(swift build --package-path "$SWIFT_PKG" --show-bin-path)/memtyped-client-check" "http://127.0.0.1:$PORT" ||
    die "the generated Swift client could not ask /healthz"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || die "memtyped exited with $? after SIGTERM"
SERVER_PID=""
log "OK"
