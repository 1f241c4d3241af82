#!/usr/bin/env python3
"""Where a sled commit's CPU and bytes go, thread by thread.

    python3 scripts/bench_commit_threads.py [BIN]     # BIN: target/release/levy

Starts BIN on a temporary store with the demo account, warms it up, then in ROUNDS rounds
(2) loads it with estimates and then durable commits at CONNS connections (64) for SECS
seconds (5). For each load it prints requests/s, how busy the machine was (/proc/stat),
the machine's time per request (both cores, busy time only) and the part of it wrk itself
used (its CPU from getrusage), and per thread name (the HTTP workers, the committer, the
flusher, sled's IO threads): CPU per request and the share of a core, bytes written per request by write calls
(`wchar`), and the bytes the disk took per request (/proc/diskstats of the device under
the store). Used for the per-thread figures of BENCHMARKS.md's commit section.
"""
import collections, os, resource, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http as bh

ROOT = bh.ROOT
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "levy")
conns, secs = int(os.environ.get("CONNS", "64")), int(os.environ.get("SECS", "5"))
tmp = tempfile.mkdtemp(prefix="levy-threads-")
est_lua, com_lua, eenv, cenv = bh.demo_loads(tmp)
data, cfg = os.path.join(tmp, "d"), os.path.join(tmp, "c.toml")
bh.demo_config(cfg, data)
tick = os.sysconf("SC_CLK_TCK")


def device_of(path):
    """The /proc/diskstats name of the whole disk under `path`."""
    dev = os.stat(path).st_dev
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"))
    parent = os.path.realpath(f"/sys/class/block/{name}/..")
    return os.path.basename(parent) if os.path.exists(os.path.join(parent, "dev")) else name


def sectors_written(device):
    for line in open("/proc/diskstats"):
        f = line.split()
        if f[2] == device:
            return int(f[9])
    return 0


def threads(pid):
    """CPU ticks and write-call bytes per thread name."""
    cpu, written = collections.Counter(), collections.Counter()
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{t}/stat").read()
            io = dict(l.split(": ") for l in open(f"/proc/{pid}/task/{t}/io").read().splitlines())
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        cpu[name] += int(fields[11]) + int(fields[12])
        written[name] += int(io["wchar"])
    return cpu, written


def wrk_cpu():
    """CPU seconds used by finished child processes (wrk) so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), sum(v) - v[3] - v[4]


env = {**os.environ, "LEVY_ADMIN_TOKEN": bh.ADMIN_TOKEN, "LEVY_LOG": "warn"}
proc, addr = bh.start([binary, "serve", "--config", cfg], env, bh.PATTERNS)
public = addr["public"]
device = device_of(data)
try:
    bh.wrk(f"{public}/estimate", est_lua, eenv, 32, 2)
    bh.wrk(f"{public}/commit", com_lua, {**cenv, "RUN_PREFIX": "warm"}, 32, 2)
    for r in range(int(os.environ.get("ROUNDS", "2"))):
        for name, lua, e in (("estimate", est_lua, eenv), ("commit", com_lua, {**cenv, "RUN_PREFIX": f"r{r}"})):
            (t0, b0), (c0, w0), s0, k0 = busy(), threads(proc.pid), sectors_written(device), wrk_cpu()
            w = bh.wrk(f"{public}/{name}", lua, e, conns, secs)
            (t1, b1), (c1, w1), s1, k1 = busy(), threads(proc.pid), sectors_written(device), wrk_cpu()
            n = w["rps"] * secs
            share = (b1 - b0) / (t1 - t0)
            print(f"{name}: {w['rps']:.0f}/s, p99 {w['p99_ms']:.2f} ms, machine {share:.1%} busy, "
                  f"{os.cpu_count() * share / w['rps'] * 1e6:.1f} µs of the machine per request, "
                  f"wrk {(k1 - k0) / n * 1e6:.1f} µs of it, disk {(s1 - s0) * 512 / n:.0f} B written per request",
                  flush=True)
            for thread in sorted(set(c0) | set(c1)):
                ticks, wchar = c1[thread] - c0[thread], w1[thread] - w0[thread]
                if ticks or wchar:
                    print(f"    {thread:18} {ticks / tick / n * 1e6:6.1f} µs/request ({ticks / tick / secs:6.1%} of a core), "
                          f"{wchar / n:6.0f} B written per request", flush=True)
finally:
    proc.terminate()
    proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
