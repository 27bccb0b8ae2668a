#!/usr/bin/env python3
"""Two memtyped processes on one PostgreSQL database, tested over HTTP (run
by .ci/run; not a unit test).

Needs a throwaway cluster (scripts/pg-test-cluster.sh start): its URL and
directory come from MEMTYPED_TEST_PG_URL and MEMTYPED_TEST_PG_DIR. Each run
works in a fresh schema. Checks, in order:

1. a write on one instance is what the other reads at once (records and
   per-VM decisions, every time, no waiting);
2. an If-Match race between the instances has exactly one winner per round,
   the losers get 412;
3. one instance killed with SIGKILL mid-storm loses no acknowledged write
   (every one read back through the other instance, whole);
4. the database stopped: store requests answer 503 problem+json with
   Retry-After within the store timeout, stateless decisions keep answering
   200, /readyz says 503; the database started again: service returns
   without restarting memtyped, and nothing acknowledged is lost;
5. the database hung (its processes stopped with SIGSTOP: connections stay
   open, nothing answers, statement_timeout cannot fire): store requests
   still get 503 within the store timeout, decisions 200; after SIGCONT,
   service again.

Usage: tests/fleet_test.py [--bin PATH] [--seconds S]
"""
import argparse, http.client, json, os, random, signal, subprocess, sys, threading, time, uuid

import crash_test  # start, Storm, verify: one home for the storm and its checks
import support
from support import ROOT

DB_TIMEOUT_MS = 1000
DECISION = {"kernel": "6.16", "host": {"vendor": "intel", "self_snoop": True},
            "vcpu": {"pat": "0x0407050600070106"}, "access": {"gpa": "0xfd000000", "pat_index": 2}}
VM = {"host": {"vendor": "intel", "self_snoop": True, "kernel": "6.16"}, "display_devices": ["VGA"]}


def fail(message):
    sys.exit(f"FAIL: {message}")


def psql(url, sql):
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-qc", sql, url], check=True, stdout=subprocess.DEVNULL)


class Instance:
    """One memtyped process on the shared database."""

    def __init__(self, binary, url, tokens, log):
        self.binary, self.url, self.tokens, self.log = binary, url, tokens, log
        self.start()

    def start(self):
        # crash_test.start passes --db through; the URL selects PostgreSQL.
        self.server = crash_test.start(self.binary, self.url, self.tokens, self.log,
                                       env={"MEMTYPED_DB_TIMEOUT": str(DB_TIMEOUT_MS)})
        self.proc, self.port = self.server.proc, self.server.port

    def conn(self):
        return self.server.connect(timeout=30)

    def stop(self):
        self.server.stop()


def write_then_read_elsewhere(a, b):
    ca, cb = a.conn(), b.conn()
    for i in range(40):
        vid = f"xr-{i}"
        status, etag, _ = ca.call("PUT", f"/v1/vms/{vid}", VM)
        if status != 201:
            fail(f"create {vid} on A: {status}")
        status, _, body = cb.call("GET", f"/v1/vms/{vid}/decision?gpa=0xfd000000&pat_index=2&pat=linux")
        if status != 200:
            fail(f"decision for {vid} on B right after its create on A: {status} {body[:200]}")
        choice = "disable"  # the current baseline keeps it enabled: a change, so r2
        status, etag, _ = ca.call("PATCH", f"/v1/vms/{vid}", {"quirks": {"IGNORE_GUEST_PAT": choice}})
        if status != 200 or etag != '"r2"':
            fail(f"patch {vid} on A: {status} {etag}")
        status, etag, body = cb.call("GET", f"/v1/vms/{vid}")
        if status != 200 or etag != '"r2"' or json.loads(body)["quirks"]["IGNORE_GUEST_PAT"] != choice:
            fail(f"B read {vid} after A's patch: {status} {etag} {body[:200]}")
        status, _, body = cb.call("GET", f"/v1/vms/{vid}/decision?gpa=0xfd000000&pat_index=2&pat=linux")
        if status != 200 or json.loads(body).get("revision", 2) != 2:
            fail(f"B decision for {vid} after A's patch: {status} {body[:200]}")
    print("1. write on one instance, read on the other at once: 40 VMs x (create, decision, patch, read, decision) ok")


def if_match_race(a, b, rounds=10, racers=8):
    c = a.conn()
    status, _, _ = c.call("PUT", "/v1/vms/race", VM)
    if status != 201:
        fail(f"create race VM: {status}")
    for rev in range(1, rounds + 1):
        results, lock, go = [], threading.Lock(), threading.Barrier(racers)

        def racer(i, rev=rev):
            conn = (a if i % 2 == 0 else b).conn()
            go.wait()
            status, etag, _ = conn.call("PATCH", "/v1/vms/race", {"labels": {"winner": f"{i}-{rev}"}},
                                        {"If-Match": f'"r{rev}"'})
            with lock:
                results.append((status, i))

        threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wins = [i for s, i in results if s == 200]
        losses = [s for s, _ in results if s == 412]
        if len(wins) != 1 or len(losses) != racers - 1:
            fail(f"round {rev}: If-Match race answers {sorted(s for s, _ in results)}")
        _, etag, body = b.conn().call("GET", "/v1/vms/race")
        if etag != f'"r{rev + 1}"' or json.loads(body)["labels"]["winner"] != f"{wins[0]}-{rev}":
            fail(f"round {rev}: the stored record is not the winner's: {etag} {body[:200]}")
    print(f"2. If-Match race across the instances: {rounds} rounds x {racers} racers, exactly one winner each, the rest 412")


def sigkill_mid_storm(a, b, seconds):
    storm = crash_test.Storm([a.port, b.port], 8, 900)
    time.sleep(seconds * random.uniform(0.6, 1.0))
    os.kill(a.proc.pid, signal.SIGKILL)  # mid-storm; B's writers carry on
    time.sleep(0.3)
    snapshot = storm.end()
    a.proc.wait()
    if not snapshot:
        fail("no write was acknowledged: the storm proved nothing")
    missing, stale, torn = crash_test.verify(b.port, snapshot)
    if missing or stale or torn:
        fail(f"after SIGKILL of A: missing {missing[:5]} stale {stale[:5]} torn {torn[:5]}")
    a.start()
    missing, stale, torn = crash_test.verify(a.port, snapshot)
    if missing or stale or torn:
        fail(f"restarted A: missing {missing[:5]} stale {stale[:5]} torn {torn[:5]}")
    print(f"3. SIGKILL of one instance mid-storm: {len(snapshot)} acknowledged VMs all read back whole through the other, and through the restarted one")
    return snapshot


def database_outage(a, b, pg_dir, acked):
    ca = a.conn()
    status, _, _ = ca.call("PUT", "/v1/vms/before-outage", VM)
    if status != 201:
        fail(f"write before the outage: {status}")
    acked = dict(acked, **{"before-outage": (1, None)})
    subprocess.run(["bash", os.path.join(ROOT, "scripts/pg-test-cluster.sh"), "server-stop", pg_dir], check=True)
    try:
        for inst, name in ((a, "A"), (b, "B")):
            c = inst.conn()
            for path in ("/v1/vms/before-outage", "/v1/vms?limit=5"):
                t0 = time.monotonic()
                c.request("GET", path)
                r = c.getresponse()
                body, elapsed = r.read(), time.monotonic() - t0
                if (r.status != 503 or r.getheader("Retry-After") is None
                        or r.getheader("Content-Type") != "application/problem+json"):
                    fail(f"{name} GET {path} with the database down: {r.status} {r.getheaders()} {body[:200]}")
                if elapsed > DB_TIMEOUT_MS / 1000 + 2:
                    fail(f"{name} GET {path} took {elapsed:.1f} s with the database down (timeout {DB_TIMEOUT_MS} ms)")
            status, _, body = c.call("PATCH", "/v1/vms/before-outage", {"labels": {"x": "y"}})
            if status != 503:
                fail(f"{name} write with the database down: {status} {body[:200]}")
            status, _, _ = c.call("POST", "/v1/decisions", DECISION)
            if status != 200:
                fail(f"{name} stateless decision with the database down: {status}")
            c.request("GET", "/readyz")
            r = c.getresponse()
            body = r.read()
            if r.status != 503 or r.getheader("Retry-After") is None or json.loads(body).get("store") != "unavailable":
                fail(f"{name} /readyz with the database down: {r.status} {body[:200]}")
        # Decisions keep their pace while the store is down (many in a row, each answered).
        c = a.conn()
        t0 = time.monotonic()
        for _ in range(200):
            status, _, _ = c.call("POST", "/v1/decisions", DECISION)
            if status != 200:
                fail(f"decision during the outage: {status}")
        decisions_s = 200 / (time.monotonic() - t0)
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "scripts/pg-test-cluster.sh"), "server-start", pg_dir], check=True)
    for inst, name in ((a, "A"), (b, "B")):
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, _ = inst.conn().call("GET", "/v1/vms/before-outage")
            except (OSError, http.client.HTTPException):
                status = None
            if status == 200:
                break
            if time.monotonic() > deadline:
                fail(f"{name} did not recover within 20 s of the database's restart (last status {status})")
            time.sleep(0.2)
        status, _, _ = inst.conn().call("GET", "/readyz")
        if status != 200:
            fail(f"{name} /readyz after recovery: {status}")
    missing, stale, torn = crash_test.verify(b.port, {k: v for k, v in acked.items() if v[1] is not None})
    status, _, _ = a.conn().call("GET", "/v1/vms/before-outage")
    if missing or stale or torn or status != 200:
        fail(f"after the database restart: missing {missing[:5]} stale {stale[:5]} torn {torn[:5]}")
    status, _, _ = a.conn().call("PATCH", "/v1/vms/before-outage", {"labels": {"after": "outage"}})
    if status != 200:
        fail(f"write after the database restart: {status}")
    print(f"4. database stopped: 503 + Retry-After within {DB_TIMEOUT_MS} ms on both instances, /readyz 503, "
          f"decisions 200 ({decisions_s:.0f}/s over one connection); restarted: both recovered without a restart, "
          f"{len(acked)} acknowledged VMs intact")


def children_of(pid):
    """The processes whose parent is `pid` (the server's backends), from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def database_hang(a, pg_dir):
    with open(os.path.join(pg_dir, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster] + children_of(postmaster)
    c = a.conn()
    status, _, _ = c.call("GET", "/v1/vms/before-outage")  # a pooled connection exists, then hangs
    if status != 200:
        fail(f"read before the hang: {status}")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for path in ("/v1/vms/before-outage", "/v1/vms/before-outage/history", "/readyz"):
            t0 = time.monotonic()
            c.request("GET", path)
            r = c.getresponse()
            body, elapsed = r.read(), time.monotonic() - t0
            if r.status != 503 or r.getheader("Retry-After") is None:
                fail(f"GET {path} with the database hung: {r.status} {body[:200]}")
            if elapsed > DB_TIMEOUT_MS / 1000 + 2:
                fail(f"GET {path} took {elapsed:.1f} s with the database hung (timeout {DB_TIMEOUT_MS} ms)")
        status, _, _ = c.call("POST", "/v1/decisions", DECISION)
        if status != 200:
            fail(f"decision with the database hung: {status}")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while a.conn().call("GET", "/v1/vms/before-outage").status != 200:
        if time.monotonic() > deadline:
            fail("no recovery within 20 s of the database resuming")
        time.sleep(0.2)
    print(f"5. database hung (SIGSTOP): 503 + Retry-After within {DB_TIMEOUT_MS} ms, decisions 200; resumed: service again")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    base, pg_dir = os.environ.get("MEMTYPED_TEST_PG_URL"), os.environ.get("MEMTYPED_TEST_PG_DIR")
    if not base or not pg_dir:
        fail("MEMTYPED_TEST_PG_URL and MEMTYPED_TEST_PG_DIR must name a throwaway cluster (scripts/pg-test-cluster.sh start)")
    binary = support.memtyped_binary(args.bin)

    schema = "fleet_" + uuid.uuid4().hex[:12]
    psql(base, f"CREATE SCHEMA {schema}")
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{schema}"
    work = support.work_dir("memtyped-fleet-")
    tokens = support.write(os.path.join(work, "tokens"), f"fleet {crash_test.TOKEN}\n")
    logs = [os.path.join(work, n) for n in ("a.log", "b.log")]
    a = b = None
    try:
        a = Instance(binary, url, tokens, logs[0])
        b = Instance(binary, url, tokens, logs[1])
        priorities = set(support.store_thread_priorities(a.server.proc.pid))
        if priorities != {"idle"}:
            fail(f"a PostgreSQL store's threads run under SCHED_IDLE by default, not {priorities}")
        print("ok   a PostgreSQL store's threads run under SCHED_IDLE by default")
        write_then_read_elsewhere(a, b)
        if_match_race(a, b)
        acked = sigkill_mid_storm(a, b, args.seconds)
        database_outage(a, b, pg_dir, acked)
        database_hang(a, pg_dir)
    finally:
        for inst in (a, b):
            if inst:
                inst.stop()
        psql(base, f"SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    support.run(main, "fleet test")
