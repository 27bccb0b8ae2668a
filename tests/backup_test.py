#!/usr/bin/env python3
"""Backup test (run by .ci/run; not a unit test).

Runs memtyped under a write storm (crash_test's writers: creates and
conditional PATCHes over keep-alive HTTP), takes `memtyped backup` while the
storm goes on, restores the copy as the README says (the copy becomes the
store file of a fresh memtyped) and checks:

- every write acknowledged before the backup began is in the restored store,
  with at least the acknowledged revision and its marker (none torn);
- PRAGMA integrity_check on the copy says ok, and the copy stands alone (no -wal);
- the writers kept being served while the backup ran (acknowledged writes
  during the backup).

Usage: tests/backup_test.py [--bin PATH] [--rounds R]
"""
import argparse, os, shutil, signal, sqlite3, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash_test  # noqa: E402 - the writers, start() and verify() of the crash test


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writers", type=int, default=6)
    args = ap.parse_args()
    binary = args.bin or os.path.join(subprocess.check_output(["swift", "build", "--show-bin-path"], text=True).strip(), "memtyped")

    work = tempfile.mkdtemp(prefix="memtyped-backup-")
    db, log, tokens = os.path.join(work, "vms.sqlite"), os.path.join(work, "memtyped.log"), os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write(f"backup {crash_test.TOKEN}\n")
    os.chmod(tokens, 0o600)
    open(log, "w").close()

    acked, lock = {}, threading.Lock()
    proc, port = crash_test.start(binary, db, tokens, log)
    stop = threading.Event()
    writers = [threading.Thread(target=crash_test.writer, args=(port, w, acked, lock, stop)) for w in range(args.writers)]
    for t in writers:
        t.start()
    failed = False
    for round_ in range(1, args.rounds + 1):
        time.sleep(1.0)
        with lock:
            before = dict(acked)   # acknowledged before the backup began
        copy = os.path.join(work, f"backup-{round_}.sqlite")
        started = time.time()
        r = subprocess.run([binary, "backup", "--db", db, "--to", copy], capture_output=True, text=True, timeout=120)
        took = time.time() - started
        with lock:
            during = len(acked) - len(before)
        if r.returncode != 0:
            print(f"round {round_}: backup failed ({r.returncode}): {r.stderr}", file=sys.stderr)
            failed = True
            break

        # Restore as the README says: the copy becomes the store of a fresh memtyped.
        restored_dir = os.path.join(work, f"restore-{round_}")
        os.mkdir(restored_dir)
        restored = os.path.join(restored_dir, "memtyped.sqlite")
        shutil.copy(copy, restored)
        integrity = sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone()[0]
        alone = not os.path.exists(copy + "-wal")
        rlog = os.path.join(restored_dir, "memtyped.log")
        open(rlog, "w").close()
        rproc, rport = crash_test.start(binary, restored, tokens, rlog)
        missing, stale, torn = crash_test.verify(rport, before)
        rproc.send_signal(signal.SIGTERM)
        rproc.wait(timeout=30)
        print(f"round {round_}: backup in {took:.2f}s ({r.stdout.strip()}); {len(before)} VMs acknowledged before it: "
              f"missing {len(missing)}, stale {len(stale)}, torn {len(torn)}; integrity_check {integrity}; "
              f"single file {alone}; {during} writes acknowledged during the backup")
        if missing or stale or torn or integrity != "ok" or not alone or not before:
            print("missing:", missing[:10], "stale:", stale[:10], "torn:", torn[:10], file=sys.stderr)
            failed = True
    stop.set()
    for t in writers:
        t.join()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    if code != 0:
        print(f"memtyped exit {code}: {open(log).read()[-2000:]}", file=sys.stderr)
        failed = True
    print("backup test: " + ("FAILED" if failed else "0 failed"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
