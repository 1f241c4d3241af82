#!/usr/bin/env python3
"""Interleaved A/B of Levy binaries (or zstd levels) on the sled commit path.

    python3 scripts/bench_commit_ab.py BIN[:ZSTD_LEVEL][@CACHE_MB][+BOUND] ...

Starts every binary at once (each its own temporary store, the demo account), warms each
up, then in ROUNDS rounds (order alternating) measures on each: estimates at 64
connections, then durable commits at CONNS connections (64) for SECS seconds (4), with
the server's CPU per commit from /proc. Prints per round and the medians: commits /
estimates, CPU per commit, commit p99, and the data directory's size. An idle server
costs the loaded one nothing measurable. NOEST=1 skips the estimates. Used for the
"tried" lines of BENCHMARKS.md's commit section (binaries built from the commits named).
@CACHE_MB sets that server's `[store] cache_mb` (sled's page cache; 32 by default).
+BOUND sets LEVY_BENCH_BOUND for that server (a binary built by scripts/commit-bounds).
"""
import os, sys, subprocess, tempfile, shutil
from statistics import median
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http as bh
bins = sys.argv[1:]
tmp = tempfile.mkdtemp(prefix="levy-ab-")
servers = []
est_lua, com_lua, eenv, cenv = bh.demo_loads(tmp)
try:
    for i, spec in enumerate(bins):
        spec_bin, _, bound = spec.partition("+")
        spec_bin, _, cache = spec_bin.partition("@")
        b, _, level = spec_bin.partition(":")
        d = os.path.join(tmp, f"d{i}"); cfg = os.path.join(tmp, f"c{i}.toml")
        store = (f'zstd_level = {level}\n' if level else '') + (f'cache_mb = {cache}\n' if cache else '')
        bh.demo_config(cfg, d, f'[store]\n{store}' if store else '')
        env = {**os.environ, "LEVY_ADMIN_TOKEN": bh.ADMIN_TOKEN, "LEVY_LOG": "warn", "LEVY_BENCH_BOUND": bound}
        p, addr = bh.start([b, "serve", "--config", cfg], env, bh.PATTERNS)
        servers.append((spec, p, addr["public"]))
        bh.wrk(f"{addr['public']}/estimate", est_lua, eenv, 32, 2)
        bh.wrk(f"{addr['public']}/commit", com_lua, {**cenv, "RUN_PREFIX": "warm"}, 32, 2)
    res = {b: [] for b in bins}
    dirs = {spec: os.path.join(tmp, f'd{i}') for i, spec in enumerate(bins)}
    conns = int(os.environ.get("CONNS", "64")); secs = int(os.environ.get("SECS", "4"))
    for r in range(int(os.environ.get("ROUNDS", "4"))):
        order = servers if r % 2 == 0 else servers[::-1]
        for b, p, pub in order:
            e = bh.wrk(f"{pub}/estimate", est_lua, eenv, 64, secs) if not os.environ.get("NOEST") else {"rps": 1}
            c0 = bh.cpu_seconds(p.pid)
            c = bh.wrk(f"{pub}/commit", com_lua, {**cenv, "RUN_PREFIX": f"r{r}"}, conns, secs)
            cpu = (bh.cpu_seconds(p.pid) - c0) / (c["rps"] * secs) * 1e6
            res[b].append((c["rps"] / e["rps"], cpu, c["rps"], c["p99_ms"]))
            print(f"{os.path.basename(b):24} est {e['rps']:6.0f} com {c['rps']:6.0f} ratio {c['rps']/e['rps']:.1%} cpu {cpu:5.1f}us p99 {c['p99_ms']:.2f}", flush=True)
    for b in bins:
        # statistics.median: of an even count, the mean of the middle two.
        rs, cs, ps = ([x[i] for x in res[b]] for i in (0, 1, 3))
        size = int(subprocess.run(["du", "-sb", dirs[b]], capture_output=True, text=True).stdout.split()[0])
        print(f"{os.path.basename(b):24} {size / 1e6:.0f} MB on disk; median ratio {median(rs):.1%} (rounds {min(rs):.1%}-{max(rs):.1%}) "
              f"median cpu {median(cs):.1f}us median p99 {median(ps):.2f}")
finally:
    for b, p, _ in servers:
        p.terminate(); p.wait(timeout=60)
    shutil.rmtree(tmp, ignore_errors=True)
