#!/usr/bin/env python3
"""What one group commit's write and fdatasync cost, appended or in place.

    python3 scripts/bench_log_sync.py [DIR]

Writes N batches of 112 KiB (28 records of 4 KB, a group commit of the sled store under
64 clients) to a file in DIR (default: target/), each followed by fdatasync: once
appending (the file grows at every sync, so ext4 commits its journal for the new length
each time) and once overwriting a file whose blocks were written before (the commit log
since issue 18's fourth round). Prints the wall time per sync, this process's CPU and the
machine's (from /proc/stat, so the kernel's journal and IO threads count), alternating
the two ways three times.
"""
import os, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target")
os.makedirs(d, exist_ok=True)
SIZE, N = 112 * 1024, 1500
chunk = os.urandom(SIZE)
hz = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v) - v[3] - v[4]


for mode in ("append", "in place") * 3:
    path = os.path.join(d, "levy-bench-log-sync")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    if mode == "in place":
        os.write(fd, b"\0" * (N * SIZE))
        os.fsync(fd)
    t0, m0, c0 = time.time(), machine_busy_ticks(), os.times()
    for i in range(N):
        if mode == "append":
            os.write(fd, chunk)
        else:
            os.pwrite(fd, chunk, i * SIZE)
        os.fdatasync(fd)
    t1, m1, c1 = time.time(), machine_busy_ticks(), os.times()
    os.close(fd)
    os.unlink(path)
    own = (c1.user + c1.system - c0.user - c0.system) / N * 1e6
    print(f"{mode:8}: {(t1 - t0) / N * 1e3:.3f} ms per write+fdatasync, CPU {own:.0f} us (process), "
          f"{(m1 - m0) / hz / N * 1e6:.0f} us (machine)", flush=True)
