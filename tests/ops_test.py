#!/usr/bin/env python3
"""Operations checks over the real memtyped binary (run by .ci/run; not a unit test).

- --version: memtype and memtyped print the one version.
- start-up errors: a store that cannot be opened, a tokens file that cannot be
  read, a port in use: one line "memtyped: ..." with the reason (errno text),
  exit 1, no usage text.
- systemd notify: with a NOTIFY_SOCKET this script owns (a path and an
  abstract "@" name), READY=1 arrives once the port answers, WATCHDOG=1 when
  WATCHDOG_USEC is set, STOPPING=1 on SIGTERM, exit 0.
- credentials: the tokens come from $CREDENTIALS_DIRECTORY/tokens.
- SIGHUP: added tokens work, removed ones are refused, a file that does not
  parse keeps the tokens in force, no request fails during reloads; a tokens
  file wider than 0600 is warned about.
- per-address connection limit: more idle connections than the limit from
  127.0.0.1; a client on 127.0.0.2 is still served.
- store threads' priority: nice 5 by default with SQLite, SCHED_IDLE or a nice
  value as --store-priority / MEMTYPED_STORE_PRIORITY say; a bad value is refused.

Usage: tests/ops_test.py [--bin DIR]   (DIR holds memtyped and memtype)
"""
import argparse, json, os, shutil, signal, socket, subprocess, threading, time

import support
from support import check

WORK = support.work_dir("memtyped-ops-")
TOKEN_A = "ops-token-a-0123456789abcdef"
TOKEN_B = "ops-token-b-0123456789abcdef"


def path(name):
    return os.path.join(WORK, name)


def write(name, text, mode=0o600):
    return support.write(path(name), text, mode)


class Server(support.Memtyped):
    """memtyped on a free port, its log WORK/`name`.log."""

    def __init__(self, binary, args, env=None, name="memtyped"):
        super().__init__(binary, args, log=path(name + ".log"), env=env)

    def create_vm(self, vid, token):
        body = {"host": {"vendor": "intel", "self_snoop": True, "kernel": "6.16"}, "display_devices": ["VGA"]}
        return self.call("PUT", f"/v1/vms/{vid}", body, {"If-None-Match": "*"}, token=token).status


def test_version(bindir):
    outs = []
    for name in ("memtype", "memtyped"):
        r = subprocess.run([os.path.join(bindir, name), "--version"], capture_output=True, text=True)
        outs.append(r.stdout.strip())
        check(r.returncode == 0 and r.stdout.strip().count(".") == 2, f"{name} --version prints a version ({r.stdout.strip()!r})")
    check(outs[0] == outs[1], "memtype and memtyped report the same version")


def startup_failure(binary, args, expect, what, user=None):
    r = subprocess.run([binary, "--port", "0"] + args, capture_output=True, text=True, timeout=20,
                       preexec_fn=user, cwd=WORK)
    lines = [l for l in r.stderr.splitlines() if l.startswith("memtyped: ")]
    check(r.returncode == 1 and len(lines) == 1 and expect in lines[0] and "Usage" not in r.stderr
          and "--help" not in r.stderr, f"{what}: exit {r.returncode}, {lines}")


def test_startup_errors(binary):
    tokens = write("tokens", f"a {TOKEN_A}\n")
    startup_failure(binary, ["--db", path("missing-dir/vms.sqlite")], "No such file or directory",
                    "store in a missing directory")
    startup_failure(binary, ["--db", path("s1.sqlite"), "--tokens", path("no-such-tokens")],
                    "cannot read tokens file", "tokens file missing")
    startup_failure(binary, ["--db", path("s1.sqlite"), "--tokens", WORK], "Is a directory", "tokens path is a directory")
    startup_failure(binary, ["--db", path("s1.sqlite"), "--tokens", write("bad-tokens", "just-one-word\n")],
                    "line 1", "tokens file that does not parse")
    if os.getuid() == 0:
        # root reads everything: take the permission errors as nobody.
        def nobody():
            os.setgid(65534)
            os.setuid(65534)
        os.chmod(WORK, 0o755)
        # A copy nobody may run wherever the checkout lives (/root is 0700).
        shutil.copy(binary, path("memtyped-copy"))
        binary = path("memtyped-copy")
        # (the store first, which nobody may write: memtyped opens it before the tokens)
        os.mkdir(path("nobody"))
        os.chown(path("nobody"), 65534, 65534)
        startup_failure(binary, ["--db", path("nobody/s.sqlite"), "--tokens", tokens], "Permission denied",
                        "tokens file mode 0600 owned by someone else", user=nobody)
        sqlite_file = write("root.sqlite", "", mode=0o644)
        startup_failure(binary, ["--db", sqlite_file], "for writing", "store file the user may not write", user=nobody)
    else:
        locked = write("locked-tokens", f"a {TOKEN_A}\n", mode=0o000)
        startup_failure(binary, ["--db", path("s1.sqlite"), "--tokens", locked], "Permission denied", "unreadable tokens file")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([binary, "--port", str(port), "--db", path("s1.sqlite")], capture_output=True, text=True, timeout=20)
        lines = [l for l in r.stderr.splitlines() if l.startswith("memtyped: ")]
        check(r.returncode == 1 and len(lines) == 1 and "Address already in use" in lines[0] and "Usage" not in r.stderr,
              f"port in use: exit {r.returncode}, {lines}")
    # An option for the other kind of store is refused (flag or variable), not ignored; with
    # PostgreSQL before connecting (nothing listens at this URL).
    pg = "postgresql://127.0.0.1:1/none?connect_timeout=1"
    for args, env, named in ((["--db", path("s1.sqlite"), "--db-timeout", "500"], None, "--db-timeout is for a PostgreSQL store"),
                             (["--db", path("s1.sqlite")], {"MEMTYPED_DB_TIMEOUT": "500"}, "MEMTYPED_DB_TIMEOUT=500 is for a PostgreSQL store"),
                             (["--db", pg, "--decision-memo", "0"], None, "--decision-memo is for a SQLite store"),
                             (["--db", pg], {"MEMTYPED_STORE_BUSY_TIMEOUT": "10"}, "MEMTYPED_STORE_BUSY_TIMEOUT=10 is for a SQLite store")):
        r = subprocess.run([binary, "--port", "0"] + args, capture_output=True, text=True, timeout=20,
                           env=dict(os.environ, **(env or {})))
        check(r.returncode == 64 and named in r.stderr, f"{named}: refused (exit {r.returncode}, {r.stderr.strip()[:100]!r})")
    r = subprocess.run([binary, "--port", "70000"], capture_output=True, text=True)
    check(r.returncode == 64 and "Usage: memtyped" in r.stderr,
          f"an argument error still shows the usage (exit {r.returncode})")


def notify_socket(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if name.startswith("@"):
        s.bind("\0" + name[1:])
    else:
        s.bind(name)
    s.settimeout(20)
    return s


def test_notify(binary, address):
    sock = notify_socket(address)
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
    server = Server(binary, ["--db", path("notify.sqlite")], env, name="notify")
    first = sock.recv(4096).decode()
    # READY=1 is sent after listen(): the port answers by the time it arrives.
    status = server.call("GET", "/healthz").status
    check(first.startswith("READY=1") and status == 200, f"{address}: READY=1 first ({first!r}), port answers ({status})")
    pings = 0
    deadline = time.time() + 3
    while pings < 3 and time.time() < deadline:
        if sock.recv(4096).decode() == "WATCHDOG=1":
            pings += 1
    check(pings >= 3, f"{address}: WATCHDOG=1 pings with WATCHDOG_USEC set ({pings})")
    server.proc.send_signal(signal.SIGTERM)
    seen = []
    while "STOPPING=1" not in seen:
        try:
            seen.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    code = server.proc.wait(timeout=30)
    check("STOPPING=1" in seen and code == 0, f"{address}: STOPPING=1 on SIGTERM, exit {code}")
    sock.close()


def test_without_notify_socket(binary):
    server = Server(binary, ["--db", path("plain.sqlite")], {"WATCHDOG_USEC": "200000"}, name="plain")
    check(server.call("GET", "/healthz").status == 200 and server.stop() == 0, "no NOTIFY_SOCKET: serves and stops as before")


def test_credentials(binary):
    creds = os.path.join(WORK, "credentials")
    os.makedirs(creds, exist_ok=True)
    with open(os.path.join(creds, "tokens"), "w") as f:
        f.write(f"cred {TOKEN_A}\n")
    os.chmod(os.path.join(creds, "tokens"), 0o400)
    server = Server(binary, ["--db", path("cred.sqlite")], {"CREDENTIALS_DIRECTORY": creds}, name="cred")
    check(server.create_vm("cred-1", TOKEN_A) == 201, "tokens from $CREDENTIALS_DIRECTORY/tokens authorize writes")
    check(server.create_vm("cred-2", TOKEN_B) == 401, "a token not in the credential is refused")
    server.stop()


def test_sighup(binary):
    tokens = write("hup-tokens", f"a {TOKEN_A}\n", mode=0o644)
    server = Server(binary, ["--db", path("hup.sqlite"), "--tokens", tokens], name="hup")
    check("wider than 600" in server.text(), "a tokens file with mode 0644 is warned about at start")
    check(server.create_vm("h-1", TOKEN_A) == 201 and server.create_vm("h-2", TOKEN_B) == 401, "before SIGHUP: a works, b refused")

    # Readers during every reload: none may fail.
    stop, errors, done = threading.Event(), [], [0]
    def reader():
        conn = server.connect(TOKEN_A)
        while not stop.is_set():
            try:
                status = conn.call("GET", "/v1/vms/h-1").status
                if status != 200:
                    errors.append(status)
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))
                conn = server.connect(TOKEN_A)
    readers = [threading.Thread(target=reader) for _ in range(4)]
    for t in readers:
        t.start()

    def hup_and_wait(marker_count):
        before = server.text().count("SIGHUP")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while server.text().count("SIGHUP") < before + marker_count and time.time() < deadline:
            time.sleep(0.02)

    write("hup-tokens", f"a {TOKEN_A}\nb {TOKEN_B}\n")
    hup_and_wait(1)
    check(server.create_vm("h-3", TOKEN_B) == 201, "after SIGHUP: an added token works")
    write("hup-tokens", f"b {TOKEN_B}\n")
    hup_and_wait(1)
    check(server.create_vm("h-4", TOKEN_A) == 401 and server.create_vm("h-5", TOKEN_B) == 201,
          "after SIGHUP: a removed token is refused, the other still works")
    write("hup-tokens", "b\n")
    hup_and_wait(1)
    check("keeping the tokens in force" in server.text() and server.create_vm("h-6", TOKEN_B) == 201,
          "a tokens file that does not parse: the old tokens stay, the log says why")
    for _ in range(20):
        write("hup-tokens", f"a {TOKEN_A}\nb {TOKEN_B}\n")
        hup_and_wait(1)
    stop.set()
    for t in readers:
        t.join()
    check(not errors and done[0] > 0, f"{done[0]} reads across 23 reloads, {len(errors)} failed {errors[:3]}")
    check(server.stop() == 0, "stops cleanly after reloads")


def test_logging(binary):
    server = Server(binary, ["--db", path("log.sqlite"), "--log-format", "json", "--access-log"], name="jsonlog")
    server.call("GET", "/healthz")
    server.stop()
    lines = server.text().splitlines()
    try:
        objects = [json.loads(l) for l in lines]
    except ValueError:
        objects = []
    check(len(objects) == len(lines) >= 4 and all({"time", "level", "logger", "message"} <= o.keys() for o in objects)
          and any("/healthz" in o["message"] and o["level"] == "info" for o in objects),
          f"--log-format json: every line one JSON object, the access log among them ({len(lines)} lines)")
    # --log-level warning: the start-up notices (the port among them) are not
    # written, so this one listens on a port picked here (and is waited for by /readyz).
    quiet = support.Memtyped(binary, ["--db", path("quiet.sqlite"), "--log-level", "warning"], log=path("quiet.log"),
                             port=support.free_port(), threads=None, env={"MEMTYPED_ACCESS_LOG": "true"})
    answered = quiet.call("GET", "/healthz").status == 200
    quiet.stop()
    text = quiet.text()
    check(answered and "notice" not in text and " info " not in text and "warning" in text,
          "--log-level warning: no notice or info lines (nor the access log), warnings still")


def test_per_ip_limit(binary):
    server = Server(binary, ["--db", path("ip.sqlite"), "--connection-limit", "32", "--per-ip-connection-limit", "8"], name="ip")
    hogs = []
    for _ in range(40):  # more than the global limit, all from 127.0.0.1, all idle
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", server.port))
        except OSError:
            pass
        hogs.append(s)
    time.sleep(0.3)  # let the server accept (and refuse) them
    try:
        status = server.call("GET", "/healthz", source="127.0.0.2").status
    except OSError as e:
        status = repr(e)
    check(status == 200, f"another address (127.0.0.2) is served while 127.0.0.1 holds 40 idle connections ({status})")
    served_hogs = 0
    for s in hogs:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                served_hogs += 1
        except OSError:
            pass
    check(served_hogs == 8, f"127.0.0.1 with 40 connections: {served_hogs} served (limit 8)")
    for s in hogs:
        s.close()
    server.stop()


def test_store_priority(binary):
    for args, env, expect in [([], None, "5"), (["--store-priority", "idle"], None, "idle"),
                              (["--store-priority", "0"], None, "0"), ([], {"MEMTYPED_STORE_PRIORITY": "19"}, "19")]:
        server = Server(binary, ["--db", path("prio.sqlite"), "--store-threads", "2"] + args, env=env, name="prio")
        seen = support.store_thread_priorities(server.proc.pid)
        server.stop()
        check(seen == [expect, expect], f"store threads with {args or env or 'the defaults'} (SQLite): {expect} ({seen})")
    r = subprocess.run([binary, "--port", "0", "--db", path("prio.sqlite"), "--store-priority", "20"],
                       capture_output=True, text=True, timeout=20, cwd=WORK)
    check(r.returncode != 0 and "--store-priority (MEMTYPED_STORE_PRIORITY) must be idle or a nice value from 0 to 19, not '20'"
          in r.stderr, f"--store-priority 20 is refused, naming the option and its variable ({r.stderr.strip()[:120]})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None, help="directory with memtyped and memtype")
    args = ap.parse_args()
    bindir = support.bin_dir(args.bin)
    binary = os.path.join(bindir, "memtyped")
    test_version(bindir)
    test_startup_errors(binary)
    test_notify(binary, path("notify.sock"))
    test_notify(binary, f"@memtyped-ops-{os.getpid()}")
    test_without_notify_socket(binary)
    test_credentials(binary)
    test_sighup(binary)
    test_logging(binary)
    test_per_ip_limit(binary)
    test_store_priority(binary)


if __name__ == "__main__":
    support.run(main, "ops test")
