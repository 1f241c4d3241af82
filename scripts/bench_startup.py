#!/usr/bin/env python3
"""How long the sled store takes to open once it holds many quotes.

    python3 scripts/bench_startup.py [SECONDS] [BIN]     # 60; target/release/levy

Starts BIN on a temporary store with the demo account, commits new 3-item quotes at 64
connections for SECONDS, stops it, and then starts it twice on that data directory,
timing each start until the listeners are up (opening the store reads and decodes every
record; docs/operations.md). Prints the quotes committed, the data directory's size and
the two start times.
"""
import os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http as bh

secs = int(sys.argv[1]) if len(sys.argv) > 1 else 60
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(bh.ROOT, "target", "release", "levy")
tmp = tempfile.mkdtemp(prefix="levy-startup-")
est_lua, com_lua, eenv, cenv = bh.demo_loads(tmp)
data, cfg = os.path.join(tmp, "d"), os.path.join(tmp, "c.toml")
bh.demo_config(cfg, data)
env = {**os.environ, "LEVY_ADMIN_TOKEN": bh.ADMIN_TOKEN, "LEVY_LOG": "warn"}
try:
    proc, addr = bh.start([binary, "serve", "--config", cfg], env, bh.PATTERNS)
    w = bh.wrk(f"{addr['public']}/commit", com_lua, {**cenv, "RUN_PREFIX": "s"}, 64, secs)
    proc.terminate()
    proc.wait()
    size = int(subprocess.run(["du", "-sm", data], capture_output=True, text=True).stdout.split()[0])
    print(f"{int(w['rps'] * secs)} quotes committed, data directory {size} MB", flush=True)
    for i in range(2):
        started = time.time()
        proc, addr = bh.start([binary, "serve", "--config", cfg], env, bh.PATTERNS)
        print(f"start {i + 1}: {time.time() - started:.1f} s", flush=True)
        proc.terminate()
        proc.wait()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
