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
import argparse, http.client, json, os, random, sqlite3, sys, threading, time

import support

TOKEN = "crash-test-token-0123456789"


def start(binary, db, tokens, log, env=None):
    """memtyped on `db` (a SQLite file or a PostgreSQL URL), calls sending the storm's token.
    backup_test and fleet_test start theirs here too."""
    return support.Memtyped(binary, ["--db", db, "--tokens", tokens], log=log, env=env, token=TOKEN)


def writer(port, wid, acked, lock, stop):
    """Creates VMs and patches them; records every acknowledged (id, revision, marker)."""
    rng = random.Random(wid)
    conn = support.Connection(port, TOKEN)
    mine = []
    while not stop.is_set():
        try:
            if not mine or rng.random() < 0.5:
                vid = f"w{wid}-{len(mine)}"
                marker = f"{wid}.{len(mine)}.1"
                body = {"host": {"vendor": "intel", "self_snoop": True, "kernel": "6.16"},
                        "quirks": {"IGNORE_GUEST_PAT": rng.choice(["disable", "keep_enabled"])},
                        "display_devices": ["VGA"], "labels": {"marker": marker, "writer": str(wid)}}
                status, etag, _ = conn.call("PUT", f"/v1/vms/{vid}", body, {"If-None-Match": "*"})
                if status == 201:
                    mine.append(vid)
                    with lock:
                        acked[vid] = (1, marker)
            else:
                vid = rng.choice(mine)
                with lock:
                    rev, _ = acked[vid]
                marker = f"{wid}.{vid}.{rev + 1}"
                status, etag, _ = conn.call("PATCH", f"/v1/vms/{vid}", {"labels": {"marker": marker}},
                                            {"If-Match": f'"r{rev}"'})
                if 200 <= status < 300:
                    with lock:
                        acked[vid] = (int(etag.strip('"')[1:]), marker)
        except (OSError, http.client.HTTPException):
            # The server was killed (or the connection dropped): an unacknowledged write may or may not exist.
            if stop.is_set():
                return
            time.sleep(0.01)
            conn = support.Connection(port, TOKEN)


def store_files(prefix):
    """A fresh work directory and in it the paths of a SQLite store, a log, and a tokens file holding TOKEN."""
    work = support.work_dir(prefix)
    tokens = support.write(os.path.join(work, "tokens"), f"storm {TOKEN}\n")
    return work, os.path.join(work, "vms.sqlite"), os.path.join(work, "memtyped.log"), tokens


class Storm:
    """`writers` writer threads (ids from `first_id`, writer w on ports[w % len(ports)]), recording
    each acknowledged write in `acked` (shared across storms when given)."""

    def __init__(self, ports, writers, first_id, acked=None):
        self.acked, self.lock, self.stop = {} if acked is None else acked, threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=writer, args=(ports[w % len(ports)], first_id + w, self.acked, self.lock, self.stop))
                        for w in range(writers)]
        for t in self.threads:
            t.start()

    def snapshot(self):
        """What has been acknowledged so far."""
        with self.lock:
            return dict(self.acked)

    def end(self):
        """Stops the writers (each drops its request under way) and returns what was acknowledged."""
        self.stop.set()
        for t in self.threads:
            t.join()
        return self.snapshot()


def verify(port, acked):
    conn = support.Connection(port, TOKEN)
    missing, stale, torn = [], [], []
    for vid, (rev, marker) in acked.items():
        status, etag, body = conn.call("GET", f"/v1/vms/{vid}")
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
    binary = support.memtyped_binary(args.bin)

    _, db, log, tokens = store_files("memtyped-crash-")
    acked = {}
    for round_ in range(1, args.rounds + 1):
        server = start(binary, db, tokens, log)
        storm = Storm([server.port], args.writers, round_ * 100, acked)
        time.sleep(args.seconds * random.uniform(0.6, 1.0))
        server.proc.kill()   # SIGKILL, mid-storm
        snapshot = storm.end()
        server.proc.wait()

        server = start(binary, db, tokens, log)
        missing, stale, torn = verify(server.port, snapshot)
        code = server.stop()
        integrity = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
        print(f"round {round_}: {len(snapshot)} acknowledged VMs checked after SIGKILL; "
              f"missing {len(missing)}, stale {len(stale)}, torn {len(torn)}; integrity_check {integrity}; clean stop exit {code}")
        if missing or stale or torn or integrity != "ok" or code != 0:
            print("missing:", missing[:10], "stale:", stale[:10], "torn:", torn[:10], file=sys.stderr)
            sys.exit(1)
        if not snapshot:
            sys.exit("no write was acknowledged: the test proved nothing")


if __name__ == "__main__":
    support.run(main, "crash test")
