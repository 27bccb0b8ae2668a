#!/usr/bin/env python3
"""Crash test for the VM-config store (run by .ci/run; not a unit test).

Starts memtyped on a fresh SQLite file, runs many concurrent writers (PUT
creates and PATCH updates over keep-alive HTTP), kills the server with
SIGKILL in the middle of the storm, restarts it on the same file, and checks:

- every write that got a 2xx answer is present, with at least the
  acknowledged revision (an acknowledged write survives kill -9);
- no record is half-written: each VM reads back whole and consistent
  (its labels carry the revision its writer set, so a torn write shows);
- PRAGMA integrity_check on the file says ok.

Usage: tests/crash_test.py [--bin PATH] [--writers N] [--seconds S] [--rounds R]
"""
import argparse, http.client, json, os, random, signal, sqlite3, subprocess, sys, tempfile, threading, time

TOKEN = "crash-test-token-0123456789"


def start(binary, db, tokens, log):
    offset = os.path.getsize(log)  # only this start's lines count
    proc = subprocess.Popen([binary, "--port", "0", "--db", db, "--tokens", tokens, "--threads", "2"],
                            stdout=subprocess.DEVNULL, stderr=open(log, "a"))
    deadline = time.time() + 20
    while time.time() < deadline:
        with open(log) as f:
            f.seek(offset)
            for line in f.read().splitlines():
                if "listening on http://127.0.0.1:" in line:
                    port = int(line.rsplit(":", 1)[1])
                    if proc.poll() is None:
                        return proc, port
        if proc.poll() is not None:
            sys.exit(f"memtyped exited early with {proc.returncode}; log: {open(log).read()}")
        time.sleep(0.05)
    proc.kill()
    sys.exit("memtyped did not start")


def request(conn, method, path, body=None, headers=None):
    h = {"Authorization": f"Bearer {TOKEN}"}
    if body is not None:
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = conn.getresponse()
    return r.status, r.getheader("ETag"), r.read()


def writer(port, wid, acked, lock, stop):
    """Creates VMs and patches them; records every acknowledged (id, revision, marker)."""
    rng = random.Random(wid)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    mine = []
    while not stop.is_set():
        try:
            if not mine or rng.random() < 0.5:
                vid = f"w{wid}-{len(mine)}"
                marker = f"{wid}.{len(mine)}.1"
                body = {"host": {"vendor": "intel", "self_snoop": True, "kernel": "6.16"},
                        "quirks": {"IGNORE_GUEST_PAT": rng.choice(["disable", "keep_enabled"])},
                        "display_devices": ["VGA"], "labels": {"marker": marker, "writer": str(wid)}}
                status, etag, _ = request(conn, "PUT", f"/v1/vms/{vid}", body, {"If-None-Match": "*"})
                if status == 201:
                    mine.append(vid)
                    with lock:
                        acked[vid] = (1, marker)
            else:
                vid = rng.choice(mine)
                with lock:
                    rev, _ = acked[vid]
                marker = f"{wid}.{vid}.{rev + 1}"
                status, etag, _ = request(conn, "PATCH", f"/v1/vms/{vid}", {"labels": {"marker": marker}},
                                          {"If-Match": f'"r{rev}"'})
                if 200 <= status < 300:
                    with lock:
                        acked[vid] = (int(etag.strip('"')[1:]), marker)
        except (OSError, http.client.HTTPException):
            # The server was killed (or the connection dropped): an unacknowledged write may or may not exist.
            if stop.is_set():
                return
            time.sleep(0.01)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def verify(port, acked):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    missing, stale, torn = [], [], []
    for vid, (rev, marker) in acked.items():
        status, etag, body = request(conn, "GET", f"/v1/vms/{vid}")
        if status != 200:
            missing.append((vid, status))
            continue
        vm = json.loads(body)
        if vm["revision"] < rev:
            stale.append((vid, rev, vm["revision"]))
        elif vm["revision"] == rev and vm["labels"].get("marker") != marker:
            torn.append((vid, marker, vm["labels"].get("marker")))
        if etag != f'"r{vm["revision"]}"' or "IGNORE_GUEST_PAT" not in vm.get("quirks", {}):
            torn.append((vid, "etag/quirks", etag))
    return missing, stale, torn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    binary = args.bin or os.path.join(subprocess.check_output(["swift", "build", "--show-bin-path"], text=True).strip(), "memtyped")

    work = tempfile.mkdtemp(prefix="memtyped-crash-")
    db, log, tokens = os.path.join(work, "vms.sqlite"), os.path.join(work, "memtyped.log"), os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"crash {TOKEN}\n")
    open(log, "w").close()

    acked, lock = {}, threading.Lock()
    for round_ in range(1, args.rounds + 1):
        proc, port = start(binary, db, tokens, log)
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(port, round_ * 100 + w, acked, lock, stop)) for w in range(args.writers)]
        for t in threads:
            t.start()
        time.sleep(args.seconds * random.uniform(0.6, 1.0))
        os.kill(proc.pid, signal.SIGKILL)   # mid-storm
        stop.set()
        proc.wait()
        for t in threads:
            t.join()
        with lock:
            snapshot = dict(acked)

        proc, port = start(binary, db, tokens, log)
        missing, stale, torn = verify(port, snapshot)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        integrity = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
        print(f"round {round_}: {len(snapshot)} acknowledged VMs checked after SIGKILL; "
              f"missing {len(missing)}, stale {len(stale)}, torn {len(torn)}; integrity_check {integrity}; clean stop exit {code}")
        if missing or stale or torn or integrity != "ok" or code != 0:
            print("missing:", missing[:10], "stale:", stale[:10], "torn:", torn[:10], file=sys.stderr)
            print(open(log).read()[-4000:], file=sys.stderr)
            sys.exit(1)
        if not snapshot:
            sys.exit("no write was acknowledged: the test proved nothing")
    print("crash test: 0 failed")


if __name__ == "__main__":
    main()
