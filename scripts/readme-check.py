#!/usr/bin/env python3
"""Runs the README's curl examples as pasted, against a fresh memtyped.

Every ```sh block of README.md that calls curl is run by bash, block by block
and in order (later blocks use what earlier ones created: the host profile,
then the VM), against `memtyped --tokens deploy/dev.tokens` on
localhost:8080 with an empty store in a temporary directory, as the README's
first command starts it. `curl` inside the blocks is a shell function that
calls the real curl with the very arguments shown and records the status.

A block passes when every curl in it succeeds and answers 2xx with a
non-empty body, except a block whose comments show a problem document
(`# {"type":"/problems/...`): its answers must be 4xx
application/problem+json. JSON answers must parse.

Usage: python3 scripts/readme-check.py --bin PATH/TO/memtyped [--readme README.md]
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import support  # noqa: E402  (tests/support.py: memtyped started and stopped, its log shown on failure)

# A curl that runs the real one with the block's arguments, saves the body
# and headers, and appends "status<TAB>content-type<TAB>body-file<TAB>argv"
# to $CHECK_LOG. The body still goes to stdout, as the reader would see it.
CURL_SHIM = r'''
curl() {
    local n body hdr code
    n=$(( $(wc -l <"$CHECK_LOG") + 1 ))
    body="$CHECK_DIR/body-$n"; hdr="$CHECK_DIR/headers-$n"
    code=$(command curl -o "$body" -D "$hdr" -w '%{http_code}' "$@") || {
        echo "curl exited $? for: curl $*" >&2; return 1; }
    printf '%s\t%s\t%s\t%s\n' "$code" \
        "$(awk 'tolower($1) == "content-type:" {print $2}' "$hdr" | tr -d '\r' | tail -1)" \
        "$body" "curl ${*//$'\n'/ }" >>"$CHECK_LOG"
    cat "$body"
}
set -e
'''


def curl_blocks(readme):
    blocks = re.findall(r"```sh\n(.*?)```", open(readme).read(), re.S)
    return [b for b in blocks if re.search(r"^\s*curl ", b, re.M)]


def check_answer(status, ctype, body_file, argv, expect_problem):
    body = open(body_file, "rb").read()
    # `curl -i` puts the headers in the body file too; the JSON follows them.
    payload = body.split(b"\r\n\r\n", 1)[1] if body.startswith(b"HTTP/") else body
    errors = []
    if expect_problem:
        if not 400 <= status < 500:
            errors.append(f"expected a 4xx problem, got {status}")
        if ctype != "application/problem+json":
            errors.append(f"expected application/problem+json, got {ctype or 'none'}")
    elif not 200 <= status < 300:
        errors.append(f"expected 2xx, got {status}: {payload[:300]!r}")
    if not payload.strip():
        errors.append("empty body")
    if ctype.endswith("json") and payload.strip():
        try:
            json.loads(payload)
        except ValueError as e:
            errors.append(f"body is not JSON ({e})")
    return [f"{argv}\n    -> {e}" for e in errors]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--port", type=int, default=8080)  # the README's examples say 8080
    args = ap.parse_args()

    blocks = curl_blocks(args.readme)
    if not blocks:
        sys.exit("no curl examples found in the README")
    work = support.work_dir("readme-check-")
    # As the README's first command starts it (--threads left to memtyped); ready once /readyz says so.
    server = support.Memtyped(args.bin, ["--tokens", os.path.abspath("deploy/dev.tokens"),
                                         "--db", os.path.join(work, "memtyped.sqlite")],
                              log=os.path.join(work, "server.log"), port=args.port, threads=None)
    failures, answers = [], 0
    try:
        for i, block in enumerate(blocks, 1):
            log = os.path.join(work, f"block-{i}.log")
            open(log, "w").close()
            env = dict(os.environ, CHECK_LOG=log, CHECK_DIR=work)
            run = subprocess.run(["bash", "-c", CURL_SHIM + block], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60)
            if run.returncode != 0:
                failures.append(f"block {i} exited {run.returncode}: {run.stderr.strip()}")
            expect_problem = bool(re.search(r'^# \{"type":"/problems/', block, re.M))
            for line in open(log):
                status, ctype, body_file, argv = line.rstrip("\n").split("\t", 3)
                answers += 1
                failures += check_answer(int(status), ctype, body_file, argv, expect_problem)
        if server.proc.poll() is not None:
            failures.append(f"memtyped exited with {server.proc.returncode} during the examples")
    finally:
        server.stop()
    if failures:
        print("\n".join(["README examples that failed:"] + failures), file=sys.stderr)
        sys.exit(1)
    print(f"README: {len(blocks)} blocks, {answers} curl calls, each answered as shown")


if __name__ == "__main__":
    support.run(main, "README check")
