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
  during the backup);
- a store another process keeps locked (exclusive locking mode) is waited
  for `--wait` seconds, then the backup exits 1 saying so, with no copy and
  no .partial left (it used to retry for ever).

Usage: tests/backup_test.py [--bin PATH] [--rounds R]
"""
import argparse, os, shutil, sqlite3, subprocess, sys, time

import crash_test  # the crash test's storm (Storm, start, verify, store_files)
import support


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writers", type=int, default=6)
    args = ap.parse_args()
    binary = support.memtyped_binary(args.bin)

    work, db, log, tokens = crash_test.store_files("memtyped-backup-")
    server = crash_test.start(binary, db, tokens, log)
    storm = crash_test.Storm([server.port], args.writers, 0)
    failed = False
    for round_ in range(1, args.rounds + 1):
        time.sleep(1.0)
        before = storm.snapshot()   # acknowledged before the backup began
        copy = os.path.join(work, f"backup-{round_}.sqlite")
        started = time.time()
        r = subprocess.run([binary, "backup", "--db", db, "--to", copy], capture_output=True, text=True, timeout=120)
        took = time.time() - started
        during = len(storm.snapshot()) - len(before)
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
        restored_server = crash_test.start(binary, restored, tokens, os.path.join(restored_dir, "memtyped.log"))
        missing, stale, torn = crash_test.verify(restored_server.port, before)
        restored_server.stop()
        print(f"round {round_}: backup in {took:.2f}s ({r.stdout.strip()}); {len(before)} VMs acknowledged before it: "
              f"missing {len(missing)}, stale {len(stale)}, torn {len(torn)}; integrity_check {integrity}; "
              f"single file {alone}; {during} writes acknowledged during the backup")
        if missing or stale or torn or integrity != "ok" or not alone or not before:
            print("missing:", missing[:10], "stale:", stale[:10], "torn:", torn[:10], file=sys.stderr)
            failed = True
    storm.end()
    failed |= not locked_source_gives_up(binary, work)
    code = server.stop()
    if code != 0:
        print(f"memtyped exit {code}", file=sys.stderr)
        failed = True
    if failed:
        sys.exit(1)


def locked_source_gives_up(binary, work):
    source, copy = os.path.join(work, "locked.sqlite"), os.path.join(work, "locked-copy.sqlite")
    holder = sqlite3.connect(source, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t(x)")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    started = time.monotonic()
    try:
        r = subprocess.run([binary, "backup", "--db", source, "--to", copy, "--wait", "2"],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        print("a locked source: the backup still ran after 60 s", file=sys.stderr)
        return False
    finally:
        holder.close()
    took = time.monotonic() - started
    ok = (r.returncode == 1 and "locked" in r.stderr and not os.path.exists(copy)
          and not os.path.exists(copy + ".partial"))
    print(f"a locked source: exit {r.returncode} after {took:.1f}s ({r.stderr.strip()[:120]}); "
          f"no copy, no .partial: {not os.path.exists(copy) and not os.path.exists(copy + '.partial')}")
    return ok


if __name__ == "__main__":
    support.run(main, "backup test")
