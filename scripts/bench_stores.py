#!/usr/bin/env python3
"""The measurement behind scripts/bench-stores (run that: it installs wrk and builds).

Many stores on one Levy (issue 19). Directories of N stores are made with `levy restore`
from a generated backup: each store its own account, store hash and credential, all with
the rules of demo/rules.json. For each N it measures start-up (spawn to the first 200 from
/estimate), resident memory, and, between 10 and the largest N in interleaved rounds,
account changes through the admin API and estimates spread over every store. On
PostgreSQL: a node joining the database, and what a change costs the other node.
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_http import (ADMIN_TOKEN, LEVY, PATTERNS, ROOT, cpu_seconds, estimate_body, log, median,  # noqa: E402
                        rss_mib, start, wrk)

RULES = json.load(open(os.path.join(ROOT, "demo", "rules.json")))

# Each request: a random store's credential and store hash.
SPREAD_LUA = """
wrk.method = "POST"
wrk.body = io.open(os.getenv("BODY_FILE")):read("*a")
local creds = {}
for line in io.lines(os.getenv("CREDS_FILE")) do
  local auth, hash = line:match("(%S+) (%S+)")
  creds[#creds + 1] = {auth, hash}
end
local headers = {["Content-Type"] = "application/json"}
function request()
  local c = creds[math.random(#creds)]
  headers["Authorization"] = "Basic " .. c[1]
  headers["X-Bc-Store-Hash"] = c[2]
  return wrk.format(nil, nil, headers, nil)
end
"""


def store_id(i):
    return f"s{i:05d}"


def password(i):
    return f"bench-password-{i:05d}-0123456789abcdef"


def make_backup(path, n):
    """A Levy backup (zstd JSON lines) of n stores."""
    created = "2026-01-01T00:00:00Z"
    raw = path + ".jsonl"
    with open(raw, "w") as f:
        f.write(json.dumps({"levy_backup": 1, "created_at": created}) + "\n")
        for i in range(n):
            salt = hashlib.sha256(f"salt{i}".encode()).digest()[:16]
            account = {
                "id": store_id(i), "store_hashes": [f"h{i:05d}"], "profiles": [],
                "credentials": [{"username": f"{store_id(i)}-u", "salt": salt.hex(),
                                 "hash": hashlib.sha256(salt + password(i).encode()).hexdigest(),
                                 "created_at": created}],
                "rules": RULES, "created_at": created,
            }
            f.write(json.dumps({"account": account}) + "\n")
        f.write(json.dumps({"end": {"accounts": n, "quotes": 0}}) + "\n")
    subprocess.run(["zstd", "-q", "-f", "--rm", raw, "-o", path], check=True)


def creds_file(path, n, lines):
    """`lines` credentials drawn in turn from n stores: every run's client (wrk's Lua picking
    a random line) does the same work, so the comparison is Levy's alone."""
    with open(path, "w") as f:
        for k in range(lines):
            i = k % n
            auth = base64.b64encode(f"{store_id(i)}-u:{password(i)}".encode()).decode()
            f.write(f"{auth} h{i:05d}\n")


def request(method, url, body=None, auth=None, store_hash="h00000"):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("X-Bc-Store-Hash", store_hash)
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            text = res.read()
            return res.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return 0, None


class Node:
    """A running `levy serve` on a store of n stores; knows when it first served."""

    def __init__(self, tmp, name, env, n):
        config = os.path.join(tmp, f"{name}.toml")
        with open(config, "w") as f:
            f.write(f'data_dir = "{tmp}/{name}-data"\nlisten = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n')
        self.n = n
        t0 = time.time()
        self.proc, addr = start([LEVY, "serve", "--config", config],
                                {**os.environ, **env, "LEVY_ADMIN_TOKEN": ADMIN_TOKEN, "LEVY_LOG": "warn"},
                                PATTERNS)
        self.public, self.admin = addr["public"], addr["admin"]
        self.body = estimate_body(3, "45891")
        auth = "Basic " + base64.b64encode(f"{store_id(n - 1)}-u:{password(n - 1)}".encode()).decode()
        while True:
            status, _ = request("POST", f"{self.public}/estimate", self.body, auth, f"h{n - 1:05d}")
            if status == 200:
                break
            if time.time() - t0 > 120 or self.proc.poll() is not None:
                raise SystemExit(f"{name}: not serving after {time.time() - t0:.1f} s (last status {status})")
            time.sleep(0.01)
        self.startup_s = time.time() - t0

    def admin_call(self, method, path, body=None):
        return request(method, f"{self.admin}{path}", body, f"Bearer {ADMIN_TOKEN}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def onboard(node, i):
    """The four account changes of a new store, each timed (ms)."""
    sid = f"new-{i}"
    took = {}
    for name, method, path, body in (
        ("create", "POST", "/admin/accounts", {"id": sid, "store_hashes": [f"new{i}"]}),
        ("credential", "POST", f"/admin/accounts/{sid}/credentials", None),
        ("rules", "PUT", f"/admin/accounts/{sid}/rules", RULES),
    ):
        t = time.perf_counter()
        status, out = node.admin_call(method, path, body)
        took[name] = (time.perf_counter() - t) * 1000
        if status not in (200, 201):
            raise SystemExit(f"{name} {path}: {status}")
        if name == "credential":
            username = out["data"]["username"]
    t = time.perf_counter()
    status, _ = node.admin_call("DELETE", f"/admin/accounts/{sid}/credentials/{username}")
    took["revoke"] = (time.perf_counter() - t) * 1000
    if status not in (200, 204):
        raise SystemExit(f"revoke: {status}")
    return took


def restore(tmp, name, n, env):
    backup = os.path.join(tmp, f"stores-{n}.levy.zst")
    if not os.path.exists(backup):
        make_backup(backup, n)
    t = time.time()
    subprocess.run([LEVY, "restore", backup, "--data-dir", f"{tmp}/{name}-data"], env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)
    return time.time() - t


def sled_part(tmp, sizes, rounds, seconds, results):
    small, large = sizes[0], sizes[-1]
    log(f"== sled: start-up and memory at {sizes} stores")
    nodes = {}
    for n in sizes:
        took = restore(tmp, f"sled{n}", n, {})
        node = Node(tmp, f"sled{n}", {}, n)
        rss = rss_mib(node.proc.pid)
        log(f"  {n:>6} stores: restore {took:.1f} s, serving after {node.startup_s:.2f} s, RSS {rss:.1f} MiB")
        results["sled"][n] = {"restore_s": took, "startup_s": node.startup_s, "rss_mib": rss}
        if n in (small, large):
            nodes[n] = node
        else:
            node.stop()
    body = os.path.join(tmp, "body.json")
    json.dump(estimate_body(3, "45891"), open(body, "w"))
    lua = os.path.join(tmp, "spread.lua")
    open(lua, "w").write(SPREAD_LUA)
    for n in (small, large):
        creds_file(os.path.join(tmp, f"creds-{n}"), n, large)
    log(f"== estimates spread over every store, {small} vs {large}, {rounds} interleaved rounds")
    series = {small: {"p50": [], "p99": [], "rps1": [], "rps64": []}, large: {"p50": [], "p99": [], "rps1": [], "rps64": []}}
    for r in range(rounds):
        # Alternating which goes first, so that neither always runs on a warmer machine.
        for n in ((small, large) if r % 2 == 0 else (large, small)):
            env = {"BODY_FILE": body, "CREDS_FILE": os.path.join(tmp, f"creds-{n}")}
            one = wrk(f"{nodes[n].public}/estimate", lua, env, 1, seconds, threads=1)
            many = wrk(f"{nodes[n].public}/estimate", lua, env, 64, seconds, threads=2)
            s = series[n]
            s["p50"].append(one["p50_ms"])
            s["p99"].append(one["p99_ms"])
            s["rps1"].append(one["rps"])
            s["rps64"].append(many["rps"])
            log(f"  round {r + 1} {n:>6}: 1 conn p50 {one['p50_ms']:.3f} p99 {one['p99_ms']:.3f} ms "
                f"{one['rps']:.0f}/s; 64 conns {many['rps']:.0f}/s")
    for n in (small, large):
        results["sled"][n]["estimates"] = {k: median(v) for k, v in series[n].items()}
        results["sled"][n]["rss_after_estimates_mib"] = rss_mib(nodes[n].proc.pid)
    # This machine's speed drifts between rounds: the ratio of each round, then their median.
    results["sled"]["ratios"] = {k: median([b / a for a, b in zip(series[small][k], series[large][k])])
                                 for k in series[small]}
    results["sled"]["per_round"] = series
    log(f"== account changes through the admin API, {small} vs {large} stores, interleaved")
    changes = {small: [], large: []}
    for i in range(60):
        for n in (small, large):
            changes[n].append(onboard(nodes[n], i))
    for n in (small, large):
        results["sled"][n]["changes_ms"] = {k: median([c[k] for c in changes[n]]) for k in changes[n][0]}
        log(f"  {n:>6}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in results["sled"][n]["changes_ms"].items()))
    for node in nodes.values():
        node.stop()


def pg_part(tmp, sizes, results):
    cluster = os.path.join(tmp, "pg")
    url = subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), "start", cluster], check=True,
                         capture_output=True, text=True).stdout.strip()
    base = url.rsplit("/", 1)[0]
    try:
        for n in (sizes[0], sizes[-1]):
            db = f"stores{n}"
            psql(url, f"CREATE DATABASE {db}")
            env = {"LEVY_DATABASE_URL": f"{base}/{db}"}
            took = restore(tmp, f"pg{n}", n, env)
            a = Node(tmp, f"pg{n}a", env, n)
            b = Node(tmp, f"pg{n}b", env, n)
            log(f"  {n:>6} stores: restore {took:.1f} s, node A serving after {a.startup_s:.2f} s, "
                f"node B after {b.startup_s:.2f} s, RSS {rss_mib(b.proc.pid):.1f} MiB")
            # A change on A (a new credential); B serves it once it has read that account.
            seen = []
            cpu0 = cpu_seconds(b.proc.pid)
            for i in range(40):
                i %= n
                status, out = a.admin_call("POST", f"/admin/accounts/{store_id(i)}/credentials")
                assert status == 201, status
                auth = "Basic " + base64.b64encode(f"{out['data']['username']}:{out['data']['password']}".encode()).decode()
                t0 = time.perf_counter()
                while request("POST", f"{b.public}/estimate", b.body, auth, f"h{i:05d}")[0] != 200:
                    time.sleep(0.002)
                seen.append((time.perf_counter() - t0) * 1000)
            # B's CPU over the 40 changes: reading them, and answering the polls above.
            cpu = (cpu_seconds(b.proc.pid) - cpu0) * 1000 / 40
            results["postgres"][n] = {"restore_s": took, "startup_a_s": a.startup_s, "startup_b_s": b.startup_s,
                                      "rss_mib": rss_mib(b.proc.pid), "change_seen_ms": median(seen),
                                      "follower_cpu_ms_per_change": cpu}
            log(f"    a change on A: B serves it after {median(seen):.1f} ms (median), B's CPU {cpu:.2f} ms per change")
            a.stop()
            b.stop()
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "pg-cluster"), "stop", cluster], capture_output=True)


def psql(url, statement):
    bin_dir = subprocess.run("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1", shell=True,
                             capture_output=True, text=True).stdout.strip()
    subprocess.run([os.path.join(bin_dir, "psql"), url, "-qAtc", statement], check=True, capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000,10000,50000")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="levy-stores-")
    results = {"sled": {}, "postgres": {}}
    try:
        sled_part(tmp, sizes, args.rounds, args.seconds, results)
        if not args.no_postgres:
            log(f"== PostgreSQL: nodes joining {sizes[0]} and {sizes[-1]} stores")
            pg_part(tmp, sizes, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, sizes)


def report(results, sizes):
    sled = results["sled"]
    small, large = sizes[0], sizes[-1]
    base = sled[small]["rss_mib"]
    log("\n== summary (sled)")
    log("| stores | restore s | serving after s | RSS MiB | KiB per store (RSS / stores) | KiB per added store (vs 10) |")
    for n in sizes:
        r = sled[n]
        added = (r["rss_mib"] - base) * 1024 / (n - small) if n != small else float("nan")
        log(f"| {n} | {r['restore_s']:.1f} | {r['startup_s']:.2f} | {r['rss_mib']:.1f} | "
            f"{r['rss_mib'] * 1024 / n:.2f} | {added:.2f} |")
    e0, e1 = sled[small]["estimates"], sled[large]["estimates"]
    log("| estimates | " + " | ".join(f"{k}" for k in e0) + " |")
    for n, e in ((small, e0), (large, e1)):
        log(f"| {n} | " + " | ".join(f"{v:.3f}" for v in e.values()) + " |")
    log("| ratio of medians | " + " | ".join(f"{e1[k] / e0[k]:.3f}" for k in e0) + " |")
    log("| median of per-round ratios | " + " | ".join(f"{sled['ratios'][k]:.3f}" for k in e0) + " |")
    c0, c1 = sled[small]["changes_ms"], sled[large]["changes_ms"]
    log("| account change (median ms) | " + " | ".join(c0) + " |")
    for n, c in ((small, c0), (large, c1)):
        log(f"| {n} | " + " | ".join(f"{v:.2f}" for v in c.values()) + " |")
    log("| ratio | " + " | ".join(f"{c1[k] / c0[k]:.2f}" for k in c0) + " |")
    if results["postgres"]:
        log("\n== summary (PostgreSQL)")
        for n, r in results["postgres"].items():
            log(f"| {n} | " + " | ".join(f"{k} {v:.2f}" for k, v in r.items()) + " |")
    out = os.path.join(ROOT, "target", "bench-stores.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json.dump(results, open(out, "w"), indent=1)
    log(f"(raw figures: {out})")


if __name__ == "__main__":
    main()
