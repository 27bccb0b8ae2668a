#!/usr/bin/env bash
# The HTTP contract check: validates openapi.yaml (and that its examples,
# parameter examples included, match their schemas), starts memtyped on a free
# loopback port with a fresh VM-config store (--db) and a tokens file
# (--tokens), seeds the store with curl, runs schemathesis against every
# operation with a write token, then against the write operations with a
# read-only token (403) and with none (401), stops the server with SIGTERM and
# requires a clean exit. Exits non-zero on any failure: a server error, a
# response that breaks the schema, or a status or header the spec does not
# document.
#
# Environment (all optional):
#   MEMTYPED_BIN          a built memtyped to test; otherwise it is built here
#   API_CHECK_SCRATCH     --scratch-path for that build (default: SwiftPM's .build)
#   API_CHECK_VENV        where the Python tools live (default: ./.venv-api)
#   API_CHECK_EXAMPLES    schemathesis --max-examples per operation (default: 50)
#   API_CHECK_TIMEOUT     hard limit on each schemathesis run, seconds (default: 600)
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
import json, sys, yaml, jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc = yaml.safe_load(open(sys.argv[1]))
registry = Registry().with_resource("urn:spec", Resource(doc, DRAFT202012))

def esc(key):
    return str(key).replace("~", "~0").replace("/", "~1")

def at(pointer):
    node = doc
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node

def deref(pointer):
    """Follows $ref chains to the pointer of the node finally reached."""
    while isinstance(at(pointer), dict) and "$ref" in at(pointer):
        pointer = at(pointer)["$ref"].removeprefix("#")
    return pointer

checked = bad = 0
seen = set()

def check(where, schema_pointer, value):
    """Validates once per (schema, value): shared components are reached from many operations."""
    global checked, bad
    key = (schema_pointer, json.dumps(value, sort_keys=True))
    if key in seen:
        return
    seen.add(key)
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

def parameters(where, holder):
    """Parameter examples (`example`, `examples`) against the parameter's schema."""
    for i in range(len(at(holder).get("parameters") or [])):
        pp = deref(f"{holder}/parameters/{i}")
        param = at(pp)
        label = f"{where} parameter {param['name']}"
        if "example" in param:
            check(f"{label} example", pp + "/schema", param["example"])
        for name in param.get("examples") or {}:
            check(f"{label} examples/{name}", pp + "/schema", at(deref(f"{pp}/examples/{esc(name)}"))["value"])

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
for path, item in doc["paths"].items():
    parameters(f"{path}", f"/paths/{esc(path)}")
    for method, op in item.items():
        if method not in METHODS:
            continue
        op_pointer = f"/paths/{esc(path)}/{method}"
        parameters(f"{method.upper()} {path}", op_pointer)
        if "requestBody" in op:
            media(f"{method.upper()} {path} request", op_pointer + "/requestBody")
        for status in op["responses"]:
            media(f"{method.upper()} {path} {status}", f"{op_pointer}/responses/{status}")
for name in doc["components"]["responses"]:
    media(f"components/responses/{name}", f"/components/responses/{name}")
print(f"== api-check: {checked} examples match their schemas" if not bad else f"{bad} mismatches", file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# Client generators read neither `anyOf: [{$ref: X}, {type: 'null'}]` nor a
# `$ref` into another schema's properties, so the document writes some
# schemas out twice: each `XOrNull` is `X` with null allowed, and
# `HostProfileInput` is `HostInput` plus `name`. The copies must not drift.
"$VENV/bin/python" - "$SPEC" <<'PY' || die "a schema written out twice for client generators differs from its original in $SPEC"
import copy, sys, yaml

schemas = yaml.safe_load(open(sys.argv[1]))["components"]["schemas"]
DOC_ONLY = ("description", "examples", "title")

def flat(schema):
    """The schema's validation keywords, with an allOf of $refs merged in."""
    out = {}
    for part in schema.get("allOf", []):
        out.update(flat(schemas[part["$ref"].rsplit("/", 1)[1]]))
    out.update({k: copy.deepcopy(v) for k, v in schema.items() if k not in DOC_ONLY + ("allOf",)})
    if out.pop("unevaluatedProperties", True) is False:
        out["additionalProperties"] = False
    return out

def strip_docs(value):
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if k not in DOC_ONLY}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value

def nullable(schema):
    """X with null allowed: null added to its type (and enum), or to its first oneOf branch."""
    s = flat(schema)
    if "oneOf" in s:
        s["oneOf"] = [nullable(s["oneOf"][0])] + s["oneOf"][1:]
        return s
    s["type"] = [s["type"], "null"]
    if "enum" in s:
        s["enum"] = s["enum"] + [None]
    return s

bad = 0
pairs = [(name, name[: -len("OrNull")]) for name in schemas if name.endswith("OrNull")]
for copy_name, original in pairs:
    if original not in schemas:
        print(f"{copy_name}: no schema {original}", file=sys.stderr)
        bad += 1
    elif strip_docs(flat(schemas[copy_name])) != strip_docs(nullable(schemas[original])):
        print(f"{copy_name} is not {original} with null allowed", file=sys.stderr)
        bad += 1
host = strip_docs(schemas["HostInput"]["properties"])
profile = strip_docs(schemas["HostProfileInput"]["properties"])
profile.pop("name", None)
if profile != host:
    print("HostProfileInput's members other than name are not HostInput's", file=sys.stderr)
    bad += 1
if not bad:
    print(f"== api-check: the {len(pairs) + 1} schemas written out twice match their originals", file=sys.stderr)
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

# The VM-config store: a fresh SQLite file, and a tokens file with a write
# token (the one schemathesis sends) and a read-only one (for the 403 pass).
TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
READ_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
printf 'api-check %s\napi-check-reader %s read\n' "$TOKEN" "$READ_TOKEN" >"$WORK/tokens"
chmod 600 "$WORK/tokens"

# Explicit flags win over any MEMTYPED_* in the environment; the limits are
# the defaults openapi.yaml documents, and reads stay open (no --read-auth).
cd "$WORK"
"$MEMTYPED_BIN" --host 127.0.0.1 --port 0 --max-batch 1000 --max-body 1048576 \
    --db "$WORK/store.sqlite" --baseline legacy-ignore-guest-pat --tokens "$WORK/tokens" 2>"$SERVER_LOG" &
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

# --- 4. Seeding the store --------------------------------------------------
# Records for reads and writes to find: the documented example (web-01, with
# VGA, on the Sapphire Rapids profile spr-6-16 running 6.16: the ids the
# spec's parameter examples name), a profile no VM references (a DELETE can
# succeed), a VM with an inline host on the other baseline, and a TDX VM its
# AMD host cannot run (its decisions are 409). schemathesis also reuses the ids
# it sees in responses, so its later requests reach these records.
command -v curl >/dev/null || die "curl is needed to seed the store (apt-get install curl)"
seed() { # METHOD PATH BODY EXPECTED-STATUS
    local status
    status=$(curl -sS -o "$WORK/seed.out" -w '%{http_code}' -X "$1" "$BASE$2" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary "$3") ||
        die "seeding: $1 $2: curl failed"
    [ "$status" = "$4" ] || { cat "$WORK/seed.out" >&2; echo >&2; die "seeding: $1 $2 answered $status, expected $4"; }
}
seed PUT /v1/hosts/spr-6-16 '{"vendor": "intel", "self_snoop": true, "tdp": true, "cpu": {"family": 6, "model": "0x8f", "stepping": 8}, "kernel": "6.16"}' 201
seed PUT /v1/hosts/spare '{"vendor": "amd", "kernel": "6.12"}' 201
seed PUT /v1/vms/web-01 '{"baseline": "legacy-ignore-guest-pat", "host_profile": "spr-6-16", "display_devices": ["VGA"], "guest_kernel": "6.1", "labels": {"team": "web"}}' 201
seed PATCH /v1/vms/web-01 '{"labels": {"owner": "web-oncall"}}' 200
seed PUT /v1/vms/desk-02 '{"baseline": "honor-guest-pat-2025", "host": {"cpu": {"family": 6, "model": 106}, "kernel": "6.18"}, "display_devices": ["virtio-gpu"], "labels": {"team": "desktop"}}' 201
seed PUT /v1/vms/td-01 '{"host": {"vendor": "amd"}, "type": "tdx"}' 201
log "seeded: host profiles spr-6-16 and spare, VMs web-01, desk-02 and td-01"

# --- 5. schemathesis -------------------------------------------------------
# One worker: with two, Python 3.11 (Debian 12's) intermittently fails inside
# Hypothesis with "SystemError: AST constructor recursion depth mismatch"
# (ast.parse racing between threads), which schemathesis reports as errors.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method,allow_header_conformance
run_schemathesis() { # LABEL ARGS...
    local label=$1
    shift
    local st=("$VENV/bin/schemathesis" run "$SPEC"
        --url "$BASE"
        --checks "$CHECKS"
        --workers 1
        --request-timeout 10
        --generation-database none
        --no-color
        "$@")
    [ -z "${API_CHECK_SEED:-}" ] || st+=(--seed "$API_CHECK_SEED")
    local shown="${st[*]}"
    shown=${shown//$TOKEN/\$TOKEN}
    log "running ($label): ${shown//$READ_TOKEN/\$READ_TOKEN}"
    # The run ends by itself; the timeout is a backstop against a hung server.
    timeout --kill-after=10 "$TIMEOUT" "${st[@]}"
}
status=0
# Every operation, with the write token. The stateful phase chains the links
# schemathesis infers (PUT /v1/vms/{id} -> GET/PATCH/DELETE ..., and so on).
run_schemathesis "every operation, write token" --header "Authorization: Bearer $TOKEN" \
    --phases examples,coverage,fuzzing,stateful --max-examples "$EXAMPLES" || status=$?
# The writes again, as callers the server must refuse: a read-only token
# (403), then no token (401 with WWW-Authenticate). schemathesis' warning that
# authentication failed is the point here, so warnings are off.
# (operationIds: putVM, patchVM, deleteVM, moveVMBaseline, moveBaselines, putHostProfile, deleteHostProfile)
WRITES=(--include-operation-id-regex '^(put|patch|delete|move)[A-Z]')
[ "$status" != 0 ] || run_schemathesis "writes, read-only token" --header "Authorization: Bearer $READ_TOKEN" \
    "${WRITES[@]}" --phases examples,fuzzing --max-examples 5 --warnings off || status=$?
[ "$status" != 0 ] || run_schemathesis "writes, no token" \
    "${WRITES[@]}" --phases examples,fuzzing --max-examples 5 --warnings off || status=$?

# --- 6. Shutdown -----------------------------------------------------------
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
