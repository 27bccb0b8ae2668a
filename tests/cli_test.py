#!/usr/bin/env python3
"""memtype, the real binary, against a real memtyped on loopback (run by .ci/run).

memtype talks to memtyped through a small recording proxy in this script, so
every exchange is also checked against openapi.yaml:
- the request: its method and path are an operation of the contract, with the
  operationId memtype says it calls (-v), query parameters the operation
  declares (values valid for their schemas), a body whose media type the
  operation takes and that is valid for its schema;
- the answer: a status the operation declares, a body valid for its schema;
- every operation memtype knows (Sources/memtype/Client/APIOperation.swift)
  is called at least once.
And the command line's own promises:
- --json prints exactly the API's body (and a newline); offline decide, table
  and models print the server's bytes;
- vm kvm-quirks --format mask prints only the mask; a mask the host's KVM
  would refuse exits 4 with the mask KVM would accept still printed;
- exit codes: 0 ok, 1 the output could not be written (stdout on /dev/full),
  2 bad input (a bad flag, a usage error, 401, 422), 3 not
  found, 4 conflict or failed precondition (412), 5 server unreachable (closed
  port, no answer within --timeout, an HTTPS certificate it cannot verify) or
  failing (503 from a locked SQLite store; 408 and 429 from something in
  front); a 2xx that is not JSON (HTML, an empty 204) is 5 with --json too;
  a redirect is 2, naming its target; HTTPS with --cacert;
- tokens: a token file group or others may read is warned about; a token
  that is not one line of visible ASCII (file or MEMTYPE_TOKEN) is refused
  without being echoed; a token file that is a directory says so;
- errors are one line on stderr with the problem's detail and pointer;
- text output on a terminal (a pty), JSON in a pipe; decide at a terminal with
  no flags and nothing on stdin says what it expects and exits 2 at once;
- --help shows the exit codes and how to register a VM and read its mask;
  the README's walk-through runs as pasted and prints the masks it shows;
  --version; completion scripts for bash, zsh and fish.

Usage: tests/cli_test.py --bin DIR   (DIR holds memtyped and memtype)
Needs PyYAML and jsonschema (python3-yaml, python3-jsonschema).
"""
import argparse, http.server, json, os, pty, re, select, shutil, socket, sqlite3, subprocess, sys, threading, time, urllib.parse

try:
    import yaml
    from jsonschema import Draft202012Validator
except ImportError as e:
    sys.exit(f"cli_test.py needs PyYAML and jsonschema ({e}): apt-get install python3-yaml python3-jsonschema")

import support
from support import ROOT, check

WORK = support.work_dir("memtype-cli-")
WRITE_TOKEN = "cli-write-token-0123456789abcdef"
READ_TOKEN = "cli-read-token-0123456789abcdef"


# --- memtyped -----------------------------------------------------------------

class Server(support.Memtyped):
    """memtyped with its store and log named `name` in WORK; the tokens file holds a write and a read token."""

    def __init__(self, binary, name, args=(), tokens=None):
        self.db = os.path.join(WORK, name + ".sqlite")
        if tokens is None:
            tokens = support.write(os.path.join(WORK, "tokens"), f"ops {WRITE_TOKEN}\nviewer {READ_TOKEN} read\n")
        super().__init__(binary, ["--db", self.db, "--tokens", tokens, *args], log=os.path.join(WORK, name + ".log"))


# --- openapi.yaml ---------------------------------------------------------------

class Contract:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.components = self.doc["components"]
        self.seen = {}  # operationId -> number of exchanges checked

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and obj["$ref"].startswith("#/components/") \
                and not obj["$ref"].startswith("#/components/schemas/"):
            node = self.doc
            for part in obj["$ref"][2:].split("/"):
                node = node[part]
            obj = node
        return obj

    def errors(self, schema, instance):
        root = dict(schema)
        root["components"] = self.components  # '#/components/...' resolves against this root
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:160]}"
                for e in Draft202012Validator(root).iter_errors(instance)]

    def operation(self, method, path):
        for template, item in self.doc["paths"].items():
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path) and method.lower() in item:
                return template, item, item[method.lower()]
        return None, None, None

    @staticmethod
    def coerce(schema, text):
        kind = schema.get("type")
        if kind == "integer" and re.fullmatch(r"\d+", text):
            return int(text)
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        return text

    def check(self, ex, claimed, request=True):
        """Problems with one exchange, [] if it keeps the contract. `request`
        False skips the request's query and body: a test sending bad input on
        purpose (the answer is still checked)."""
        url = urllib.parse.urlsplit(ex.target)
        template, item, op = self.operation(ex.method, url.path)
        if op is None:
            return [f"{ex.method} {url.path} is no operation of openapi.yaml"]
        problems = []
        opid = op.get("operationId")
        self.seen[opid] = self.seen.get(opid, 0) + 1
        if claimed and claimed != opid:
            problems.append(f"memtype says {claimed}, openapi.yaml says {ex.method} {template} is {opid}")
        params = [self.deref(p) for p in item.get("parameters", []) + op.get("parameters", [])]
        declared = {p["name"]: p for p in params if p.get("in") == "query"}
        for name, value in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            p = declared.get(name)
            if not request and p is not None:
                continue
            if p is None:
                problems.append(f"{opid}: query parameter {name!r} is not declared")
                continue
            schema = p.get("schema", {})
            if schema.get("type") == "array":
                schema = schema.get("items", {})
            problems += [f"{opid}: query {name}={value!r}: {e}" for e in self.errors(schema, self.coerce(schema, value))]
        body_spec = self.deref(op.get("requestBody"))
        if ex.body:
            media = (ex.headers.get("content-type") or "").split(";")[0].strip()
            content = (body_spec or {}).get("content", {})
            if media not in content:
                problems.append(f"{opid}: request body as {media!r}, the operation takes {sorted(content)}")
            elif request:
                problems += [f"{opid}: request body {e}" for e in self.errors(content[media]["schema"], json.loads(ex.body))]
        elif body_spec and body_spec.get("required"):
            problems.append(f"{opid}: no request body, the operation requires one")
        responses = op.get("responses", {})
        response = self.deref(responses.get(str(ex.status)) or responses.get("default"))
        if response is None:
            problems.append(f"{opid}: status {ex.status} is not declared ({sorted(responses)})")
        else:
            media = (ex.response_headers.get("content-type") or "").split(";")[0].strip()
            content = response.get("content", {})
            if content and media in content and "schema" in content[media]:
                problems += [f"{opid} {ex.status}: response {e}"
                             for e in self.errors(content[media]["schema"], json.loads(ex.response_body))]
            elif content:
                problems.append(f"{opid} {ex.status}: answered as {media!r}, declared {sorted(content)}")
        return problems


# --- running memtype -------------------------------------------------------------

class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    @property
    def lines(self):
        return [l for l in self.err.decode(errors="replace").splitlines() if l]


def run(args, env=None, stdin=b"", timeout=60):
    r = subprocess.run([MEMTYPE, *args], input=stdin, capture_output=True, timeout=timeout,
                       env={"PATH": os.environ.get("PATH", ""), **(env or {})})
    return Result(r.returncode, r.stdout, r.stderr)


class Client:
    """memtype pointed at the proxy, with -v so each exchange names its operation."""

    def __init__(self, proxy, contract):
        self.proxy, self.contract = proxy, contract
        self.env = {"MEMTYPE_SERVER": f"http://127.0.0.1:{proxy.port}", "MEMTYPE_TOKEN": WRITE_TOKEN}
        self.contract_problems = []

    def __call__(self, *args, env=None, stdin=b"", expect=0, what=None):
        before = len(self.proxy.exchanges)
        r = run([*args, "-v"], env={**self.env, **(env or {})}, stdin=stdin)
        claimed = [m.group(1) for m in re.finditer(r"^memtype: (\w+): [A-Z]+ http", r.err.decode(), re.M)]
        exchanges = self.proxy.exchanges[before:]
        for i, ex in enumerate(exchanges):
            for p in self.contract.check(ex, claimed[i] if i < len(claimed) else None, request=expect != 2):
                self.contract_problems.append(f"memtype {' '.join(args)}: {p}")
        what = what or "memtype " + " ".join(args)
        check(r.code == expect, f"{what}: exit {r.code} (expected {expect})" +
              ("" if r.code == expect else f"; stderr {r.err.decode()[-300:]!r}"))
        r.exchange = exchanges[-1] if exchanges else None
        return r


def one_line_error(r, *needles, what):
    """stderr: exactly one line (besides -v's), 'memtype: ...', holding each needle."""
    lines = [l for l in r.lines if not re.match(r"^memtype: \w+: ([A-Z]+ http|\d{3}$)", l)]
    check(len(lines) == 1 and lines[0].startswith("memtype: ") and all(n in lines[0] for n in needles),
          f"{what}: one error line with {needles} ({lines})")


def json_is_body(r, what):
    ex = r.exchange
    check(ex is not None and r.out == ex.response_body + b"\n", f"{what}: --json prints exactly the API's body and a newline")


# --- the tests ----------------------------------------------------------------------

def test_help_version_completions():
    r = run(["--help"])
    text = " ".join(r.out.decode().split())  # as one line: the help wraps at 80 columns
    check(r.code == 0 and all(s in text for s in ("0 ok", "1 the output could not be written", "2 bad input", "3 not found", "4 conflict", "5 server unreachable")),
          "--help lists the exit codes")
    check("memtype vm create web-01 --host-profile spr" in text and "memtype vm kvm-quirks web-01 --format mask" in text,
          "--help shows registering a VM and reading its mask back, as typed")
    r = run(["--version"])
    check(r.code == 0 and re.fullmatch(rb"\d+\.\d+\.\d+\n", r.out) is not None, f"--version prints a version ({r.out!r})")
    for shell in ("bash", "zsh", "fish"):
        r = run(["--generate-completion-script", shell])
        check(r.code == 0 and b"kvm-quirks" in r.out and b"server" in r.out and b"pat-index" in r.out,
              f"--generate-completion-script {shell} completes subcommands and options")


def test_workflow(c):
    # Host profile and VM registration, as the README shows them.
    r = c("host", "put", "spr", "--vendor", "intel", "--self-snoop", "--cpu", "6:0x8f:8", "--kernel", "6.16", "--json")
    json_is_body(r, "host put")
    check(r.exchange is not None and r.exchange.status == 201, "host put creates the profile (201)")
    json_is_body(c("host", "get", "spr", "--json"), "host get")
    json_is_body(c("host", "list", "--limit", "10", "--json"), "host list")
    r = c("vm", "create", "web-01", "--host-profile", "spr", "--display", "VGA", "--guest-kernel", "6.1",
          "--label", "team=web", "--json")
    json_is_body(r, "vm create")
    check(r.exchange is not None and r.exchange.headers.get("if-none-match") == "*", "vm create is create-only (If-None-Match: *)")
    r = c("vm", "create", "web-01", "--host-profile", "spr", expect=4, what="vm create of an existing id")
    one_line_error(r, "web-01", what="vm create of an existing id")
    # Every member vm create and vm patch can set, through the schema check.
    c("vm", "create", "db-01", "--vendor", "intel", "--no-self-snoop", "--tdp", "--cpu", "6:85:7", "--host-kernel", "6.12.80",
      "--baseline", "honor-guest-pat-2025", "--type", "regular", "--no-noncoherent-dma", "--keep-enabled", "CD_NW_CLEARED",
      "--disable", "IGNORE_GUEST_PAT", "--display", "virtio-gpu", "--label", "team=db", "--json")
    r = c("vm", "get", "web-01", "--json")
    json_is_body(r, "vm get")
    rev = json.loads(r.out)["revision"]
    r = c("vm", "patch", "web-01", "--disable", "IGNORE_GUEST_PAT", "--guest-kernel", "6.13", "--if-match", str(rev), "--json")
    json_is_body(r, "vm patch")
    check(r.exchange is not None and r.exchange.headers.get("content-type") == "application/merge-patch+json"
          and r.exchange.headers.get("if-match") == f'"r{rev}"', "vm patch sends a merge patch with If-Match")
    r = c("vm", "patch", "web-01", "--guest-kernel", "6.14", "--if-match", str(rev), expect=4, what="vm patch at a stale revision")
    one_line_error(r, "412", what="vm patch at a stale revision")
    c("vm", "patch", "db-01", "--remove-label", "team", "--revert-quirk", "IGNORE_GUEST_PAT", "--json")
    # The mask, for a script.
    r = c("vm", "kvm-quirks", "web-01", "--format", "mask")
    check(r.out == b"0x200\n", f"vm kvm-quirks --format mask prints only the mask ({r.out!r})")
    json_is_body(c("vm", "kvm-quirks", "web-01", "--json"), "vm kvm-quirks")
    r = c("vm", "kvm-quirks", "web-01", "--kernel", "6.6", "--format", "mask", expect=4,
          what="vm kvm-quirks under a kernel without IGNORE_GUEST_PAT")
    check(r.out == b"0x0\n", f"a refused mask still prints the mask KVM would accept ({r.out!r})")
    one_line_error(r, "refuse", "0x200", "IGNORE_GUEST_PAT", what="a refused mask")
    r = c("vm", "kvm-quirks", "web-01", "--format", "text")
    check(b"mask" in r.out and b"0x200 (IGNORE_GUEST_PAT)" in r.out, "vm kvm-quirks --format text summarises the call")
    # Decisions of a stored VM.
    r = c("vm", "decision", "web-01", "--gpa", "0xfd000000", "--pat-index", "2", "--pat", "linux", "--json")
    json_is_body(r, "vm decision")
    check(json.loads(r.out).get("effective") == "UC", "vm decision: the bochs access is UC once guest PAT is honored")
    c("vm", "decision", "web-01", "--pte", "0x10", "--level", "2M", "--mmio", "--json")
    r = c("vm", "decision", "web-01", "--gpa", "0xzz", expect=2, what="vm decision with a bad --gpa")
    one_line_error(r, "0xzz", "(at /query/gpa, --gpa)", what="vm decision with a bad --gpa")
    r = c("vm", "list", "--label", "team=web", "--quirk", "IGNORE_GUEST_PAT:disable", "--host-profile", "spr",
          "--baseline", "legacy-ignore-guest-pat", "--no-restart-required", "--limit", "5", "--json")
    json_is_body(r, "vm list")
    check([v["id"] for v in json.loads(r.out)["items"]] == ["web-01"], "vm list filters")
    json_is_body(c("vm", "history", "web-01", "--limit", "2", "--json"), "vm history")
    r = c("vm", "move", "web-01", "--to", "honor-guest-pat-2025", "--dry-run", "--if-match", str(rev + 1), "--json")
    json_is_body(r, "vm move --dry-run")
    json_is_body(c("baselines", "--json"), "baselines")
    # Planning: a kernel change on the profile, where web-01 could move, the bochs risk.
    r = c("plan", "spr", "--kernel", "6.15", "--limit", "10", "--json")
    json_is_body(r, "plan")
    check(any(i["vm"] == "web-01" for i in json.loads(r.out).get("items", [])), "plan lists the profile's VMs")
    c("plan", "spr", "--model", "D", "--format", "text")
    json_is_body(c("placements", "web-01", "--json"), "placements")
    c("placements", "web-01", "--format", "text")
    r = c("risks", "--host-profile", "spr", "--label", "team=web", "--limit", "10", "--json")
    json_is_body(r, "risks")
    c("risks", "--format", "text")
    c("plan", "no-such-host", "--kernel", "6.15", expect=3)
    r = c("plan", "spr", expect=2, what="plan with neither --kernel nor --model")
    one_line_error(r, "422", what="plan with neither --kernel nor --model")
    # Not found, bad token, read-only token.
    r = c("vm", "get", "no-such-vm", expect=3)
    one_line_error(r, "404", "no-such-vm", what="vm get of a missing VM")
    c("vm", "history", "no-such-vm", expect=3)
    c("host", "get", "no-such-host", expect=3)
    r = c("vm", "patch", "web-01", "--guest-kernel", "6.2", env={"MEMTYPE_TOKEN": "not-a-token-0123456789"}, expect=2,
          what="a write with a token the server does not know")
    one_line_error(r, "401", what="a write with an unknown token")
    token_file = support.write(os.path.join(WORK, "read.token"), READ_TOKEN + "\n")
    r = c("vm", "patch", "web-01", "--guest-kernel", "6.2", "--token-file", token_file, expect=2,
          what="a write with a read-only --token-file")
    one_line_error(r, "403", what="a write with a read-only token")
    r = c("host", "put", "bad", "--cpu", "6:zz", expect=2, what="host put with a bad cpu model")
    one_line_error(r, "422", "(at /cpu/model", what="host put with a bad cpu model")


DECIDE = ["decide", "--kernel", "6.16", "--pat", "linux", "--pat-index", "2", "--gpa", "0xfd000000", "--disable", "IGNORE_GUEST_PAT"]


def test_engine_commands(c):
    for args in (DECIDE, ["table"], ["models"]):
        online = c(*args, "--json")
        json_is_body(online, " ".join(args[:1]) + " through the server")
        offline = run([*args, "--json"])
        check(offline.code == 0 and offline.out == online.out, f"{args[0]} offline prints the server's bytes")
    r = c(*DECIDE[:-2], "--vendor", "intel", "--self-snoop", "--cpu", "6:0x8f", "--vm-type", "regular", "--noncoherent-dma",
          "--cr0-cd", "--maxphyaddr", "46", "--level", "4K", "--json")
    r = c("decide", "--file", "-", "--gpa", "0x1000", "--json", stdin=b'{"kernel": "6.6", "access": {"pat_index": 1}}')
    body = json.loads(r.exchange.body) if r.exchange else {}
    check(body == {"kernel": "6.6", "access": {"pat_index": 1, "gpa": "0x1000"}}, f"decide sets flags over the file ({body})")
    r = c("decide", stdin=b'{"kernel": "6.16"}')
    check(json.loads(r.out).get("model", {}).get("id") == "E", "decide reads a request piped on stdin")
    r = c("decide", "--kernel", "6.16", "--pat-index", "9", expect=2, what="decide --pat-index 9 through the server")
    one_line_error(r, "422", "0 to 7", "(at /access/pat_index, --pat-index)", what="decide --pat-index 9 through the server")
    r = run(["decide", "--kernel", "6.16", "--pat-index", "9"])
    check(r.code == 2, f"decide --pat-index 9 offline: exit {r.code}")
    one_line_error(r, "0 to 7", "(at /access/pat_index, --pat-index)", what="decide --pat-index 9 offline")
    r = run(["decide"], stdin=b"{not json")
    check(r.code == 2, f"decide with malformed JSON on stdin: exit {r.code}")
    one_line_error(r, "not JSON", "line 1", what="malformed JSON on stdin")
    r = run(["decide", "--no-such-flag"])
    check(r.code == 2 and b"--no-such-flag" in r.err, f"an unknown option is a usage error, exit 2 ({r.code})")
    r = run(["vm", "get", "web-01"])
    check(r.code == 2, f"vm get with no server named: exit {r.code}")
    one_line_error(r, "--server", "MEMTYPE_SERVER", what="vm get with no server named")
    r = run(["decide", "--format", "text", *DECIDE[1:]])
    text = r.out.decode()
    check(r.code == 0 and all(s in text for s in ("effective  UC", "EPT        WB  IPAT=0", "guest PAT  entry 2: UC-",
                                                  "Table 11-7 row WB x column UC- = UC", "E.honor-pat", "warnings")),
          "decide --format text: effective type, EPT and IPAT, guest PAT, the cell, the rule, the warnings")


def test_unavailable(binary):
    # Nothing listens: refused.
    r = run(["--server", f"http://127.0.0.1:{support.free_port()}", "vm", "get", "web-01"])
    check(r.code == 5, f"server down: exit {r.code}")
    one_line_error(r, "cannot reach", what="server down")
    # A listener that never answers: --timeout.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    started_at = time.time()
    r = run(["table", "--server", f"http://127.0.0.1:{s.getsockname()[1]}", "--timeout", "1"])
    s.close()
    check(r.code == 5 and time.time() - started_at < 20, f"no answer within --timeout 1: exit {r.code}")
    # A real 5xx: the SQLite store locked by another writer past --store-busy-timeout is 503.
    server = Server(binary, "locked", ["--store-busy-timeout", "200"])
    env = {"MEMTYPE_SERVER": f"http://127.0.0.1:{server.port}", "MEMTYPE_TOKEN": WRITE_TOKEN}
    r = run(["host", "put", "h1", "--vendor", "intel"], env=env)
    check(r.code == 0, f"host put on the second server: exit {r.code}")
    db = sqlite3.connect(server.db, timeout=5, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        r = run(["host", "put", "h1", "--vendor", "amd"], env=env)
    finally:
        db.execute("ROLLBACK")
        db.close()
    check(r.code == 5, f"a 503 from a locked store: exit {r.code} ({r.err!r})")
    one_line_error(r, "503", what="a 503 from a locked store")
    check(server.stop() == 0, "the second memtyped stops cleanly")


def on_pty(args, env):
    """memtype with stdin and stdout on a pseudo-terminal; (exit code, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([MEMTYPE, *args], stdin=slave, stdout=slave, stderr=slave, env={"PATH": "", **env})
    os.close(slave)
    out = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    os.close(master)
    try:
        return p.wait(timeout=5), out
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, out


def test_terminal(c, server):
    code, out = on_pty(["decide"], {})
    check(code == 2 and b"decide needs a request" in out, f"decide at a terminal with nothing given says what it expects ({code}, {out[:120]!r})")
    code, out = on_pty(["vm", "get", "web-01"], c.env)
    check(code == 0 and b"vm               web-01" in out and b"{" not in out, f"vm get on a terminal prints a summary ({out[:80]!r})")
    check(re.search(rb"started at +never reported\r?\n", out), f"vm get: a VM never started says so ({out!r})")
    # A start recorded as the libvirt hook records it (memtype has no command for it): the summary says when.
    vm = server.call("GET", "/v1/vms/web-01").json()
    applied = server.call("PUT", "/v1/vms/web-01/applied", {"revision": vm["revision"]}, token=WRITE_TOKEN).json()
    code, out = on_pty(["vm", "get", "web-01"], c.env)
    line = f"started at       revision {vm['revision']} on {applied['applied_at']}".encode()
    check(code == 0 and applied["applied_at"] and line in out, f"vm get: the applied revision and when ({line!r} in {out!r})")
    r = run(["vm", "get", "web-01"], env=c.env)
    check(r.code == 0 and r.out.startswith(b"{"), "vm get in a pipe prints JSON")


def test_https(binary):
    """memtype over TLS: a self-signed memtyped verified with --cacert, refused without it (5)."""
    if not shutil.which("openssl"):
        check(False, "openssl is needed for the HTTPS check")
        return
    key, cert = os.path.join(WORK, "tls.key"), os.path.join(WORK, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    server = Server(binary, "tls", ["--tls-cert", cert, "--tls-key", key])
    url = f"https://127.0.0.1:{server.port}"
    r = run(["models", "--server", url, "--cacert", cert, "--json"])
    offline = run(["models", "--json"])
    check(r.code == 0 and r.out == offline.out, f"models over HTTPS with --cacert: exit {r.code}, the server's bytes")
    r = run(["models", "--server", url])
    check(r.code == 5, f"HTTPS without the CA: exit {r.code}")
    one_line_error(r, "cannot reach", "certificate", what="HTTPS without the CA")
    check(server.stop() == 0, "the HTTPS memtyped stops cleanly")


def test_readme(binary):
    """The README's memtype walk-through as pasted (its server URL pointed at
    a fresh memtyped with deploy/dev.tokens): each `--format mask` prints
    the mask its comment shows."""
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", open(os.path.join(ROOT, "README.md")).read(), re.S)
              if "memtype vm kvm-quirks" in b and "--format mask" in b]
    if not check(len(blocks) == 1, "the README has one memtype walk-through"):
        return
    block = blocks[0]
    expected = re.findall(r"--format mask\s+# (0x[0-9a-f]+)", block)
    server = Server(binary, "readme", tokens=os.path.join(ROOT, "deploy/dev.tokens"))
    script = block.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{server.port}")
    r = subprocess.run(["bash", "-e", "-c", script], capture_output=True, timeout=120,
                       env={"PATH": os.path.dirname(MEMTYPE) + ":" + os.environ.get("PATH", "")})
    masks = re.findall(rb"^(0x[0-9a-f]+)$", r.stdout, re.M)
    check(r.returncode == 0 and expected and [m.decode() for m in masks] == expected,
          f"the README's walk-through runs as pasted and prints {expected} ({r.returncode}, {masks}, {r.stderr[-200:]!r})")
    check(server.stop() == 0, "the README's memtyped stops cleanly")


class Front(http.server.BaseHTTPRequestHandler):
    """What may stand in front of memtyped: every request gets `answer` (status, headers, body)."""
    answer = (200, {}, b"")

    def do_GET(self):
        status, headers, body = Front.answer
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_edges(c):
    """Answers memtyped never gives but a proxy may, output that cannot be written, tokens."""
    front = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
    threading.Thread(target=front.serve_forever, daemon=True).start()
    env = {"MEMTYPE_SERVER": f"http://127.0.0.1:{front.server_address[1]}"}
    for answer, code, needle, what in (
            ((200, {"Content-Type": "text/html"}, b"<html>login</html>"), 5, "not JSON", "an HTML 200 with --json"),
            ((204, {}, b""), 5, "an empty body", "a 204 with --json"),
            ((301, {"Location": "https://memtyped.example/v1/vms/web-01"}, b""), 2, "redirect to https://memtyped.example/v1/vms/web-01: memtype does not follow",
             "a redirect"),
            ((429, {"Retry-After": "1"}, b"slow down"), 5, "429", "a 429 from a proxy"),
            ((408, {}, b""), 5, "408", "a 408 from a proxy")):
        Front.answer = answer
        r = run(["vm", "get", "web-01", "--json"], env=env)
        check(r.code == code and r.out == b"", f"{what}: exit {r.code} (expected {code}), nothing on stdout ({r.out[:40]!r})")
        one_line_error(r, needle, what=what)
    front.shutdown()

    with open("/dev/full", "wb") as full:
        p = subprocess.run([MEMTYPE, "models", "--json"], stdout=full, stderr=subprocess.PIPE, timeout=30)
    check(p.returncode == 1 and b"cannot write the output" in p.stderr,
          f"stdout on /dev/full: exit {p.returncode}, said so ({p.stderr.strip()[:80]!r})")

    work = os.path.join(WORK, "tokens.d")
    os.makedirs(work, exist_ok=True)
    exposed = support.write(os.path.join(work, "exposed.token"), WRITE_TOKEN + "\n", mode=0o644)
    r = c("vm", "list", "--token-file", exposed, what="vm list with a 0644 --token-file")
    check(any("warning" in l and "group or others" in l and "mode 644" in l for l in r.lines),
          f"a 0644 token file is warned about ({r.lines[-2:]})")
    two = support.write(os.path.join(work, "two-lines.token"), "first-half-of-a-secret\nsecond-half-of-a-secret\n")
    for args, extra, what in ((["--token-file", two], {}, "a two-line token file"),
                              ([], {"MEMTYPE_TOKEN": "first-half-of-a-secret\nX-Injected: 1"}, "MEMTYPE_TOKEN with a newline")):
        r = c("vm", "list", *args, env=extra, expect=2, what=what)
        check(b"secret" not in r.err and b"one line" in r.err, f"{what}: refused without echoing it ({r.err[-120:]!r})")
    r = c("vm", "list", "--token-file", work, expect=2, what="--token-file on a directory")
    one_line_error(r, "Is a directory", what="--token-file on a directory")
    r = c("vm", "patch", "web-01", "--guest-kernel", "6.2", "--if-match", "\u00bd", expect=2, what="--if-match \u00bd")
    one_line_error(r, "--if-match", what="--if-match \u00bd")


def main():
    global MEMTYPE
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory with memtyped and memtype")
    a = ap.parse_args()
    MEMTYPE = os.path.join(a.bin, "memtype")
    memtyped = os.path.join(a.bin, "memtyped")
    contract = Contract(os.path.join(ROOT, "openapi.yaml"))
    server = Server(memtyped, "main")
    proxy = support.Proxy(server.port)
    c = Client(proxy, contract)
    test_help_version_completions()
    test_workflow(c)
    test_engine_commands(c)
    test_terminal(c, server)
    test_unavailable(memtyped)
    test_edges(c)
    test_https(memtyped)
    test_readme(memtyped)
    for p in c.contract_problems:
        print("     " + p)
    check(not c.contract_problems, f"{len(proxy.exchanges)} exchanges keep openapi.yaml")
    source = open(os.path.join(ROOT, "Sources/memtype/Client/APIOperation.swift")).read()
    known = re.findall(r"^    case (\w+)$", source, re.M)
    missing = [op for op in known if op not in contract.seen]
    check(known and not missing, f"every operation memtype calls was exercised ({len(known)}; missing {missing})")
    check(server.stop() == 0, "memtyped stops cleanly")


if __name__ == "__main__":
    support.run(main, "cli")
