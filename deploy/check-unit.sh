#!/usr/bin/env bash
# Checks deploy/memtyped.service against a built memtyped, offline (no systemd
# as PID 1 needed; run by .ci/run):
#  1. systemd-analyze verify on the unit with ExecStart= pointing at BIN;
#  2. systemd-analyze security --offline=yes: exposure 2.0 or less ("OK");
#  3. the unit's SystemCallFilter= allows every system call memtyped makes:
#     memtyped runs under strace through start-up (with a NOTIFY_SOCKET and a
#     watchdog), serves reads and store writes, re-reads its tokens on SIGHUP
#     and stops on SIGTERM; each call seen must be in the filter's allow list,
#     expanded with `systemd-analyze syscall-filter`.
#  4. RestrictAddressFamilies= holds every socket family memtyped opened, and
#     no mapping is one MemoryDenyWriteExecute= refuses (W+X, or mprotect to X).
# Usage: bash deploy/check-unit.sh [BIN]   (default: swift build's memtyped)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-$(swift build --show-bin-path)/memtyped}")
UNIT=deploy/memtyped.service
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

sed "s|^ExecStart=.*|ExecStart=$BIN|" "$UNIT" > "$WORK/memtyped.service"

echo "== systemd-analyze verify"
systemd-analyze verify --man=no "$WORK/memtyped.service"

echo "== systemd-analyze security --offline=yes (must be 2.0 or less)"
systemd-analyze security --offline=yes --threshold=20 --no-pager "$WORK/memtyped.service" | tail -1

echo "== system calls and socket families memtyped uses, against the unit's filters"
python3 - "$BIN" "$WORK" "$UNIT" <<'PY'
import atexit, http.client, os, re, shutil, signal, ssl, socket, subprocess, sys, time
binary, work, unit = sys.argv[1:4]

def expand(name, seen=None):
    """The system calls a `@group` (or a plain name) stands for, recursively."""
    if not name.startswith("@"):
        return {name}
    out = set()
    for line in subprocess.check_output(["systemd-analyze", "syscall-filter", name], text=True).splitlines()[1:]:
        word = line.strip()
        if word and not word.startswith("#"):
            out |= expand(word)
    return out

allowed, families = set(), set()
for line in open(unit):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if m:
        names = set().union(*(expand(w) for w in m.group(2).split()))
        allowed = (allowed - names) if m.group(1) else (allowed | names)
    m = re.match(r"RestrictAddressFamilies=(.*)", line.strip())
    if m:
        families |= set(m.group(1).split())

tracers = []  # strace processes; memtyped is each one's child

@atexit.register
def _kill_leftovers():
    for proc in tracers:
        if proc.poll() is None:
            try:
                for child in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split():
                    os.kill(int(child), signal.SIGKILL)
            except OSError:
                pass
            proc.kill()

token = "unit-check-token-0123456789"
with open(f"{work}/tokens", "w") as f:
    f.write(f"check {token}\n")
os.chmod(f"{work}/tokens", 0o600)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(f"{work}/notify")
notify.settimeout(30)
env = {**os.environ, "NOTIFY_SOCKET": f"{work}/notify", "WATCHDOG_USEC": "100000", "CREDENTIALS_DIRECTORY": work}
# As a non-root user, like the unit's DynamicUser= (SQLite run by root also
# fchown()s its -wal and -shm files, which the unit's filter refuses).
runas = []
if os.getuid() == 0:
    runas = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    shutil.copy(binary, f"{work}/memtyped")  # runnable by nobody wherever the checkout is
    binary = f"{work}/memtyped"
    for p in [work] + [os.path.join(work, n) for n in os.listdir(work)]:
        os.chown(p, 65534, 65534)
proc = subprocess.Popen(runas + ["strace", "-f", "-qq", "-o", f"{work}/trace", binary, "--port", "0",
                         "--db", f"{work}/vms.sqlite", "--threads", "2"],
                        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(f"{work}/log", "w"))
tracers.append(proc)
assert notify.recv(4096).startswith(b"READY=1"), "no READY=1"
# Signals go to memtyped itself, strace's child.
memtyped = int(open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()[0])
port = int(re.search(r"listening on http://127.0.0.1:(\d+)", open(f"{work}/log").read()).group(1))
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def call(method, path, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    if body:
        headers.update({"Content-Type": "application/json", "If-None-Match": "*"})
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    return r.status
statuses = [call("GET", "/healthz"), call("GET", "/readyz"), call("GET", "/metrics"),
            call("PUT", "/v1/vms/unit-check", '{"host":{"vendor":"intel","self_snoop":true,"kernel":"6.16"}}'),
            call("GET", "/v1/vms/unit-check"), call("GET", "/v1/vms/unit-check/decision?gpa=0x1000&pat_index=0&pat=linux")]
os.kill(memtyped, signal.SIGHUP)
time.sleep(0.5)
statuses.append(call("GET", "/v1/vms/unit-check"))
conn.close()
time.sleep(0.3)  # a few watchdog pings
os.kill(memtyped, signal.SIGTERM)
code = proc.wait(timeout=60)
if code != 0 or any(s >= 300 for s in statuses):
    sys.exit(f"memtyped under strace: exit {code}, statuses {statuses}\n" + open(f"{work}/log").read())

# HTTPS too (GnuTLS and what it loads), when openssl can make a certificate.
traces = [f"{work}/trace"]
if shutil.which("openssl"):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", f"{work}/tls.key", "-out", f"{work}/tls.crt"], check=True, capture_output=True)
    if runas:
        for n in ("tls.key", "tls.crt"):
            os.chown(f"{work}/{n}", 65534, 65534)
    proc = subprocess.Popen(runas + ["strace", "-f", "-qq", "-o", f"{work}/trace-tls", binary, "--port", "0",
                             "--db", f"{work}/vms.sqlite", "--tls-cert", f"{work}/tls.crt", "--tls-key", f"{work}/tls.key"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(f"{work}/log-tls", "w"))
    tracers.append(proc)
    while not notify.recv(4096).startswith(b"READY=1"):  # the first run's pings may still be queued
        pass
    memtyped = int(open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()[0])
    port = int(re.search(r"listening on https://127.0.0.1:(\d+)", open(f"{work}/log-tls").read()).group(1))
    tls = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ssl._create_unverified_context())
    tls.request("GET", "/healthz")
    status = tls.getresponse().status
    tls.close()
    os.kill(memtyped, signal.SIGTERM)
    code = proc.wait(timeout=60)
    if code != 0 or status != 200:
        sys.exit(f"memtyped with TLS under strace: exit {code}, status {status}\n" + open(f"{work}/log-tls").read())
    traces.append(f"{work}/trace-tls")

used, opened = set(), set()
# Skip the first execve (strace starting the binary: under systemd the filter
# is installed before that execve, which @system-service allows anyway).
for line in (l for t in traces for l in open(t)):
    m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
    if m:
        used.add(m.group(1))
    m = re.search(r"\bsocket\((AF_[A-Z0-9]+)", line)
    if m:
        opened.add(m.group(1))
# MemoryDenyWriteExecute=yes refuses mappings both writable and executable
# and making memory executable after the fact (systemd.exec(5)).
wx = [l.strip() for t in traces for l in open(t)
      if re.search(r"\b(mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC", l)
      and (l.split("(")[0].split()[-1] != "mmap" or "PROT_WRITE" in l)]
if wx and "MemoryDenyWriteExecute=yes" in open(unit).read():
    sys.exit("memtyped maps memory that MemoryDenyWriteExecute=yes refuses:\n" + "\n".join(wx[:5]))
refused = sorted(used - allowed)
print(f"{len(traces)} runs (HTTP{', HTTPS' if len(traces) > 1 else ''}): {len(used)} distinct system calls seen, {len(allowed)} allowed by the unit; socket families {sorted(opened)}")
if refused:
    sys.exit(f"memtyped makes system calls the unit's SystemCallFilter= refuses: {refused}")
if opened - families:
    sys.exit(f"memtyped opens socket families RestrictAddressFamilies= refuses: {sorted(opened - families)}")
print("unit check: ok")
PY
