#!/usr/bin/env python3
"""Where the CPU goes, for the benchmarks (not a test).

Usage: python3 bench/cpu-split.py SECONDS
Samples every thread's user+system time (/proc/PID/task/TID/stat) at the start
and after SECONDS, and prints the CPUs each process name used over the interval
(1.00 = one CPU busy all the time), memtyped split by thread name: MHD-worker
(libmicrohttpd's poll threads: HTTP and the stateless routes; MHD-single
with one), memtyped-store (the store threads) and memtyped-accept (the
acceptor, with several poll threads). Kernel time spent for a process (its system
calls, and softirq work charged to it) counts with that process; kernel
threads (kworker, ksoftirqd) are listed by their own names.
"""
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def sample():
    times = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            process = open(f"/proc/{pid}/comm").read().strip()
            for tid in os.listdir(f"/proc/{pid}/task"):
                stat = open(f"/proc/{pid}/task/{tid}/stat").read()
                thread = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                times[(process, pid, thread, tid)] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        except OSError:
            pass  # gone meanwhile
    return times


def main():
    seconds = float(sys.argv[1])
    before, start = sample(), time.monotonic()
    time.sleep(seconds)
    after, elapsed = sample(), time.monotonic() - start
    groups = {}
    for key, t in after.items():
        used = t - before.get(key, 0.0)
        if used <= 0:
            continue
        process, _, thread, _ = key
        name = f"memtyped {thread}" if process == "memtyped" and thread in ("MHD-worker", "MHD-single", "memtyped-store", "memtyped-accept") else process
        name = name.split("/")[0] if name.startswith("kworker") else name
        groups[name] = groups.get(name, 0.0) + used / elapsed
    shown = sorted(((v, k) for k, v in groups.items() if v >= 0.01), reverse=True)
    print(f"CPUs busy {sum(groups.values()):.2f}: " + ", ".join(f"{k} {v:.2f}" for v, k in shown))


if __name__ == "__main__":
    main()
