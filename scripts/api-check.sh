#!/usr/bin/env bash
# The HTTP contract check: validates openapi.yaml (and that its examples
# match their schemas), starts memtyped on a free loopback port, runs
# schemathesis against every operation, then stops the server with SIGTERM
# and requires a clean exit. Exits non-zero on any failure.
#
# Environment (all optional):
#   MEMTYPED_BIN          a built memtyped to test; otherwise it is built here
#   API_CHECK_SCRATCH     --scratch-path for that build (default: SwiftPM's .build)
#   API_CHECK_VENV        where the Python tools live (default: ./.venv-api)
#   API_CHECK_EXAMPLES    schemathesis --max-examples per operation (default: 50)
#   API_CHECK_TIMEOUT     hard limit on the schemathesis run, seconds (default: 600)
#   API_CHECK_SEED        schemathesis --seed, to replay a run
set -euo pipefail
cd "$(dirname "$0")/.."

SPEC=$PWD/openapi.yaml
VENV=$(realpath -m "${API_CHECK_VENV:-.venv-api}")
EXAMPLES=${API_CHECK_EXAMPLES:-50}
TIMEOUT=${API_CHECK_TIMEOUT:-600}
# Pinned so that a new release cannot change the verdict under CI; bump on purpose.
SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0

log() { printf '== api-check: %s\n' "$*" >&2; }
die() { printf '== api-check: FAILED: %s\n' "$*" >&2; exit 1; }

# --- 1. Python tools -------------------------------------------------------
make_venv() {
    rm -rf "$VENV"
    if python3 -m venv "$VENV"; then return 0; fi
    rm -rf "$VENV"
    # Debian ships venv (and ensurepip) in a separate package.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "python3 -m venv failed; installing python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
        python3 -m venv "$VENV" || die "python3 -m venv $VENV"
    else
        die "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"
    fi
}

tools_ok() {
    [ -x "$VENV/bin/schemathesis" ] && [ -x "$VENV/bin/openapi-spec-validator" ] &&
        "$VENV/bin/python" -c '
import sys
from importlib.metadata import version
sys.exit((version("schemathesis"), version("openapi-spec-validator")) != tuple(sys.argv[1:3]))
' "$SCHEMATHESIS_VERSION" "$VALIDATOR_VERSION" 2>/dev/null
}

if ! tools_ok; then
    log "installing schemathesis $SCHEMATHESIS_VERSION and openapi-spec-validator $VALIDATOR_VERSION into $VENV"
    "$VENV/bin/python" -c '' 2>/dev/null || make_venv
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$VALIDATOR_VERSION" ||
        die "pip install"
    tools_ok || die "the Python tools did not install"
fi

# --- 2. The document itself ------------------------------------------------
log "validating $SPEC"
"$VENV/bin/openapi-spec-validator" "$SPEC" || die "$SPEC is not a valid OpenAPI 3.1 document"

# Every example in the document must match its own schema: schemathesis sends
# the request examples, but nothing else would check the response examples.
"$VENV/bin/python" - "$SPEC" <<'PY' || die "an example in $SPEC does not match its schema"
import sys, yaml, jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc = yaml.safe_load(open(sys.argv[1]))
registry = Registry().with_resource("urn:spec", Resource(doc, DRAFT202012))

def esc(key):
    return str(key).replace("~", "~0").replace("/", "~1")

def at(pointer):
    node = doc
    for part in pointer.split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node

def deref(pointer):
    """Follows $ref chains to the pointer of the node finally reached."""
    while isinstance(at(pointer), dict) and "$ref" in at(pointer):
        pointer = at(pointer)["$ref"].removeprefix("#")
    return pointer

checked = bad = 0

def check(where, schema_pointer, value):
    global checked, bad
    checked += 1
    validator = jsonschema.Draft202012Validator({"$ref": "urn:spec#" + schema_pointer}, registry=registry)
    for error in validator.iter_errors(value):
        bad += 1
        print(f"{where}: {error.json_path}: {error.message[:300]}", file=sys.stderr)

def media(where, holder):
    holder = deref(holder)
    for mtype, m in (at(holder).get("content") or {}).items():
        mp = f"{holder}/content/{esc(mtype)}"
        if "schema" not in m:
            continue
        if "example" in m:
            check(f"{where} {mtype} example", mp + "/schema", m["example"])
        for name in m.get("examples") or {}:
            check(f"{where} {mtype} examples/{name}", mp + "/schema", at(deref(f"{mp}/examples/{esc(name)}"))["value"])

for path, item in doc["paths"].items():
    for method, op in item.items():
        op_pointer = f"/paths/{esc(path)}/{method}"
        if "requestBody" in op:
            media(f"{method.upper()} {path} request", op_pointer + "/requestBody")
        for status in op["responses"]:
            media(f"{method.upper()} {path} {status}", f"{op_pointer}/responses/{status}")
for name in doc["components"]["responses"]:
    media(f"components/responses/{name}", f"/components/responses/{name}")
print(f"== api-check: {checked} examples match their schemas" if not bad else f"{bad} mismatches", file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# --- 3. The server ---------------------------------------------------------
if [ -z "${MEMTYPED_BIN:-}" ]; then
    build=(swift build --product memtyped)
    [ -n "${API_CHECK_SCRATCH:-}" ] && build+=(--scratch-path "$API_CHECK_SCRATCH")
    log "building: ${build[*]}"
    "${build[@]}" >&2 || die "swift build"
    MEMTYPED_BIN="$("${build[@]}" --show-bin-path)/memtyped"
fi
[ -x "$MEMTYPED_BIN" ] || die "no executable at $MEMTYPED_BIN"
MEMTYPED_BIN=$(realpath "$MEMTYPED_BIN")

# The server and schemathesis run in a scratch folder, so that whatever they
# write (the VM store's SQLite file, schemathesis' cache) stays out of the tree.
WORK=$(mktemp -d)
SERVER_LOG="$WORK/memtyped.log"
SERVER_PID=""
cleanup() {
    [ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Running, and not a zombie waiting to be reaped.
alive() {
    local state
    read -r _ _ state _ <"/proc/$1/stat" 2>/dev/null || return 1
    [ "$state" != Z ]
}

# Explicit flags win over any MEMTYPED_* in the environment; the limits are
# the defaults openapi.yaml documents.
cd "$WORK"
"$MEMTYPED_BIN" --host 127.0.0.1 --port 0 --max-batch 1000 --max-body 1048576 2>"$SERVER_LOG" &
SERVER_PID=$!

PORT=""
for _ in $(seq 1 300); do
    PORT=$(sed -n 's|.*memtyped listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$SERVER_LOG" | head -n 1)
    [ -n "$PORT" ] && break
    alive "$SERVER_PID" || { cat "$SERVER_LOG" >&2; die "memtyped exited at start"; }
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$SERVER_LOG" >&2; die "memtyped did not report its port within 30 s"; }
BASE="http://127.0.0.1:$PORT"
log "memtyped (pid $SERVER_PID) listening on $BASE"

# The contract the server serves is the one being checked (it is embedded at
# build time, so a stale binary would answer with an older one).
"$VENV/bin/python" - "$BASE/openapi.yaml" "$SPEC" <<'PY' ||
import sys, urllib.request
served = urllib.request.urlopen(sys.argv[1], timeout=10).read()
sys.exit(served != open(sys.argv[2], "rb").read())
PY
    die "GET /openapi.yaml does not serve this $SPEC (rebuild memtyped)"

# --- 4. schemathesis -------------------------------------------------------
# One worker: with two, Python 3.11 (Debian 12's) intermittently fails inside
# Hypothesis with "SystemError: AST constructor recursion depth mismatch"
# (ast.parse racing between threads), which schemathesis reports as errors.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method,allow_header_conformance
st=("$VENV/bin/schemathesis" run "$SPEC"
    --url "$BASE"
    --checks "$CHECKS"
    --phases examples,coverage,fuzzing
    --max-examples "$EXAMPLES"
    --workers 1
    --request-timeout 10
    --generation-database none
    --no-color)
[ -z "${API_CHECK_SEED:-}" ] || st+=(--seed "$API_CHECK_SEED")
log "running: ${st[*]}"
status=0
# The run ends by itself; the timeout is a backstop against a hung server.
timeout --kill-after=10 "$TIMEOUT" "${st[@]}" || status=$?

# --- 5. Shutdown -----------------------------------------------------------
alive "$SERVER_PID" || { cat "$SERVER_LOG" >&2; die "memtyped died during the run"; }
log "stopping memtyped with SIGTERM"
kill -TERM "$SERVER_PID"
# A watchdog turns a hang into SIGKILL (exit status 137).
( for _ in $(seq 1 300); do sleep 0.1; done; kill -KILL "$SERVER_PID" 2>/dev/null ) &
WATCHDOG=$!
exit_code=0
wait "$SERVER_PID" || exit_code=$?
SERVER_PID=""
kill "$WATCHDOG" 2>/dev/null || true
wait "$WATCHDOG" 2>/dev/null || true
if [ "$exit_code" != 0 ]; then
    tail -n 20 "$SERVER_LOG" >&2
    [ "$exit_code" != 137 ] || die "memtyped did not exit within 30 s of SIGTERM"
    die "memtyped exited with status $exit_code after SIGTERM"
fi
log "memtyped stopped cleanly"

case $status in
    0) log "OK: schemathesis found no failures" ;;
    124|137) die "schemathesis did not finish within $TIMEOUT s" ;;
    *) die "schemathesis reported failures (exit $status)" ;;
esac
