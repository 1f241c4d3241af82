#!/usr/bin/env python3
"""The commit benchmark behind scripts/bench-commit (run that: it installs and builds).

For each backend: Levy (release) with the demo account on a temporary store; estimates
and commits at 64 connections in interleaved rounds (the ratio of each round, then the
median); commit latency at 16 connections; CPU per commit from /proc and perf, by
category; for PostgreSQL, pgbench running exactly the statements one commit executes, at
64 clients, as the database's ceiling; the cost of an adjust on quotes of 1 and of 200
versions; bytes on disk per committed quote. Writes target/bench-commit/results.json.
"""
import argparse
import glob
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_http as bh  # noqa: E402  (wrk, start, median, cpu_seconds, the Lua scripts)

ROOT = bh.ROOT
OUT = os.path.join(ROOT, "target", "bench-commit")
PG_CLUSTER = os.path.join(ROOT, "scripts", "pg-cluster")

# Symbol -> category for the commit path, first match wins.
COMMIT_CATEGORIES = [
    ("compression (zstd)", ("zstd", "ZSTD")),
    ("the store's own work (sled)", ("sled::", "crossbeam_epoch", "crc32fast")),
    ("PostgreSQL client and pool", ("tokio_postgres", "postgres_protocol", "deadpool", "postgres_types")),
    ("record encoding", ("records::", "encode", "ser::Serializer", "SerializeMap", "SerializeStruct", "Serialize>::serialize")),
    ("render", ("render::",)),
    ("audit", ("audit::",)),
    ("parse", ("serde", "from_utf8", "Deserializ", "dec::deserialize", "id_string", "btree", "Value")),
    ("compute (engine)", ("levy::engine", "rust_decimal", "zones::", "rounding", "currency", "exact::", "num_bigint", "num_rational")),
    ("allocator", ("mi_", "malloc", "free", "__rust_alloc", "__rust_dealloc")),
    ("memcpy", ("memmove", "memcpy", "memcmp", "memset")),
    ("HTTP stack", ("actix", "tokio", "httparse", "http::", "mio", "bytes::", "futures")),
    ("auth, routing, metrics", ("sha2", "base64", "authorize", "subtle", "accounts", "prometheus", "metrics")),
]


def log(msg):
    print(msg, flush=True)


def profile(pid, seconds, path):
    """perf record of `pid` for `seconds`; shares by category."""
    p = subprocess.Popen(["perf", "record", "-F", "1999", "-p", str(pid), "-o", path, "--", "sleep", str(seconds)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p


def shares(path):
    return bh.profile_groups(path, COMMIT_CATEGORIES, "kernel (TCP, syscalls, fsync)")


def metrics(admin, token):
    req = urllib.request.Request(f"{admin}/metrics", headers={"Authorization": f"Bearer {token}"})
    text = urllib.request.urlopen(req, timeout=30).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"(levy_quote_operations_total\{operation=\"(\w+)\"\}|levy_store_flush_(duration_seconds|writers)_(sum|count))\S*\s+([\d.e+-]+)", line)
        if m:
            out[m.group(1)] = float(m.group(5))
    return out


import urllib.request  # noqa: E402


class Keepalive:
    """One keep-alive HTTP connection, timing each call."""

    def __init__(self, base, headers):
        u = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.headers = headers

    def post(self, path, body):
        t = time.perf_counter()
        self.conn.request("POST", path, body=body, headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: {r.status} {data[:300]!r}")
        return time.perf_counter() - t, data


def dir_bytes(path):
    return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "**"), recursive=True) if os.path.isfile(f))


def psql(url, sql):
    psql_bin = glob.glob("/usr/lib/postgresql/*/bin/psql")[0]
    return subprocess.run([psql_bin, url, "-qAtc", sql], capture_output=True, text=True, check=True).stdout.strip()


def pgbench_script(path, commit_body, response, audit):
    """Exactly the statements one commit of a new quote executes (src/store/postgres)."""
    def lit(s):
        return "$levy$" + s + "$levy$"
    script = f"""\\set n random(1, 1000000000000)
BEGIN;
SELECT account_id, quote_id, store_hash, status, external_key, version, priced FROM quotes WHERE account_id = 'demo' AND quote_id = 'pgb-' || :client_id || '-' || :n AND store_hash = 'demostore' FOR UPDATE;
INSERT INTO quotes (account_id, quote_id, store_hash, status, external_key, version, priced) VALUES ('demo', 'pgb-' || :client_id || '-' || :n, 'demostore', 'committed', md5(:n::text), 1, 1) ON CONFLICT DO NOTHING;
INSERT INTO quote_versions (account_id, quote_id, store_hash, version, kind, request, response, adjust_description, at, audit) VALUES ('demo', 'pgb-' || :client_id || '-' || :n, 'demostore', 1, 'commit', {lit(commit_body)}, {lit(response)}, NULL, now(), {lit(audit)});
COMMIT;
"""
    open(path, "w").write(script)


def run_backend(backend, args, tmp, results):
    long, short = (4, 3) if args.quick else (10, 5)
    rounds = 3 if args.quick else 5
    r = results.setdefault(backend, {})
    data_dir = os.path.join(tmp, f"data-{backend}")
    store = ""
    pg_url = None
    if backend == "postgres":
        pg_dir = os.path.join(tmp, "pg")
        pg_url = subprocess.run([PG_CLUSTER, "start", pg_dir], capture_output=True, text=True, check=True).stdout.strip()
        store = f'[store]\nkind = "postgres"\nurl = "{pg_url}"\n'
    config = os.path.join(tmp, f"config-{backend}.toml")
    with open(config, "w") as f:
        f.write(f'data_dir = "{data_dir}"\nlisten = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n'
                f'base_domains = ["tax.example.com"]\n[limits]\nbody_bytes = 134217728\n'
                f'[demo]\naccount = "demo"\nusername = "{bh.DEMO_USER}"\npassword = "{bh.DEMO_PASSWORD}"\n'
                f'store_hashes = ["demostore"]\nprofiles = ["demo"]\nrules = "{ROOT}/demo/rules.json"\n{store}')
    env = {**os.environ, "LEVY_ADMIN_TOKEN": bh.ADMIN_TOKEN, "LEVY_LOG": "warn"}
    levy, addr = bh.start([bh.LEVY, "serve", "--config", config], env, bh.PATTERNS)
    try:
        public, admin = addr["public"], addr["admin"]
        auth = __import__("base64").b64encode(f"{bh.DEMO_USER}:{bh.DEMO_PASSWORD}".encode()).decode()
        est_file = os.path.join(tmp, "estimate.json")
        shutil.copy(os.path.join(ROOT, "quotes", "estimate.json"), est_file)
        commit_file = os.path.join(tmp, "commit.json")
        shutil.copy(os.path.join(ROOT, "quotes", "commit.json"), commit_file)
        est_lua = os.path.join(tmp, "estimate.lua")
        open(est_lua, "w").write(bh.ESTIMATE_LUA)
        commit_lua = os.path.join(tmp, "commit.lua")
        open(commit_lua, "w").write(bh.COMMIT_LUA)
        henv = {"AUTH_B64": auth, "HOST_HEADER": "demo.tax.example.com"}
        eenv = {**henv, "BODY_FILE": est_file}
        cenv = {**henv, "BODY_FILE": commit_file}

        log(f"== {backend}: warm-up")
        bh.wrk(f"{public}/estimate", est_lua, eenv, 32, short)
        bh.wrk(f"{public}/commit", commit_lua, {**cenv, "RUN_PREFIX": "warm"}, 32, short)

        log(f"== {backend}: estimates and durable commits, 64 connections, {rounds} interleaved rounds of {long} s")
        pairs = []
        for i in range(rounds):
            order = [("estimate", est_lua, eenv), ("commit", commit_lua, {**cenv, "RUN_PREFIX": f"r{i}"})]
            got = {name: bh.wrk(f"{public}/{name}", lua, e, 64, long) for name, lua, e in (order if i % 2 == 0 else order[::-1])}
            ratio = got["commit"]["rps"] / got["estimate"]["rps"]
            pairs.append({**got, "ratio": ratio})
            log(f"   round {i + 1}: estimates {got['estimate']['rps']:.0f}/s, commits {got['commit']['rps']:.0f}/s "
                f"(p99 {got['commit']['p99_ms']:.2f} ms): {ratio:.1%}")
        r["rounds"] = pairs
        r["commit_over_estimate"] = bh.median([p["ratio"] for p in pairs])
        r["estimate_rps"] = bh.median([p["estimate"]["rps"] for p in pairs])
        r["commit_rps"] = bh.median([p["commit"]["rps"] for p in pairs])
        log(f"   median ratio {r['commit_over_estimate']:.1%}")

        c16 = bh.wrk(f"{public}/commit", commit_lua, {**cenv, "RUN_PREFIX": "c16"}, 16, long)
        r["commit_16"] = c16
        log(f"== {backend}: 16 connections: {c16['rps']:.0f} commits/s, p50 {c16['p50_ms']:.2f} ms, p99 {c16['p99_ms']:.2f} ms")

        if not args.no_profile:
            for name, lua, e in (("estimate", est_lua, eenv), ("commit", commit_lua, {**cenv, "RUN_PREFIX": "prof"})):
                data = os.path.join(OUT, f"perf-{backend}-{name}.data")
                m0, c0 = metrics(admin, bh.ADMIN_TOKEN), bh.cpu_seconds(levy.pid)
                # perf follows the threads that exist when it attaches: the store's blocking
                # threads start with the load, so perf attaches a second into it.
                box = {}
                t = threading.Thread(target=lambda: box.update(w=bh.wrk(f"{public}/{name}", lua, e, 64, long)))
                t.start()
                time.sleep(1.0)
                p = profile(levy.pid, long - 2, data)
                p.wait()
                t.join()
                w = box["w"]
                cpu = bh.cpu_seconds(levy.pid) - c0
                m1 = metrics(admin, bh.ADMIN_TOKEN)
                us = cpu / (w["rps"] * long) * 1e6
                entry = {"cpu_us_per_request": us, "shares": shares(data), "rps": w["rps"]}
                flushes = m1.get("levy_store_flush_duration_seconds_count", 0) - m0.get("levy_store_flush_duration_seconds_count", 0)
                if name == "commit" and flushes:
                    entry["flushes"] = flushes
                    entry["flush_ms_mean"] = (m1["levy_store_flush_duration_seconds_sum"] - m0["levy_store_flush_duration_seconds_sum"]) / flushes * 1e3
                    entry["writers_per_flush"] = (m1["levy_store_flush_writers_sum"] - m0["levy_store_flush_writers_sum"]) / flushes
                r[f"profile_{name}"] = entry
                log(f"   {name}: {us:.1f} µs of CPU per request at {w['rps']:.0f}/s")
                for k, v in entry["shares"].items():
                    log(f"      {v:5.1f} %  {us * v / 100:6.1f} µs  {k}")
                if "flushes" in entry:
                    log(f"      group commit: {entry['flushes']:.0f} flushes, {entry['flush_ms_mean']:.2f} ms each, "
                        f"{entry['writers_per_flush']:.1f} commits per flush")

        # Adjusts: quotes of 1 version against quotes of 200, one keep-alive connection.
        log(f"== {backend}: the cost of an adjust against the quote's history")
        headers = {"Authorization": f"Basic {auth}", "X-Bc-Store-Hash": "demostore", "Host": "demo.tax.example.com",
                   "Content-Type": "application/json"}
        k = Keepalive(public, headers)
        template = open(commit_file).read()
        def body(qid, n):
            # Each adjust changes the request (a new adjust description), so none is a retry.
            return template.replace('"id": "113"', f'"id": "{qid}"', 1).replace('"currency_code"', f'"adjust_description": "a{n}", "currency_code"', 1)
        fresh = [f"adj1-{i}" for i in range(150)]
        deep = [f"adj200-{i}" for i in range(30)]
        for q in fresh + deep:
            k.post("/commit", body(q, 0).encode())
        for n in range(1, 200):
            for q in deep:
                k.post(f"/adjust?id={q}", body(q, n).encode())
        out = {}
        for name, ids, start_n in (("1 version", fresh, 1), ("200 versions", deep * 5, 200)):
            times = []
            c0 = bh.cpu_seconds(levy.pid)
            for j, q in enumerate(ids):
                dt, _ = k.post(f"/adjust?id={q}", body(q, start_n + j).encode())
                times.append(dt)
            cpu = (bh.cpu_seconds(levy.pid) - c0) / len(ids) * 1e6
            out[name] = {"adjusts": len(ids), "median_ms": bh.median(times) * 1e3, "cpu_us": cpu}
            log(f"   quotes of {name}: {len(ids)} adjusts, median {out[name]['median_ms']:.3f} ms, {cpu:.0f} µs of CPU each")
        r["adjust"] = out
        r["adjust_ratio"] = out["200 versions"]["median_ms"] / out["1 version"]["median_ms"]

        # Bytes on disk per committed quote.
        resp = k.post("/estimate", template.replace('"id": "113"', '"id": "size"', 1).encode())[1]
        r["json_bytes"] = {"request": len(template.encode()), "response": len(resp)}
        m = metrics(admin, bh.ADMIN_TOKEN)
        committed = m.get('levy_quote_operations_total{operation="commit"}', 0)
        versions = committed + m.get('levy_quote_operations_total{operation="adjust"}', 0)
        k.conn.close()
    finally:
        levy.terminate()
        levy.wait(timeout=60)
    if backend == "sled":
        size = dir_bytes(data_dir)
        r["disk"] = {"bytes": size, "quotes": committed, "versions": versions, "bytes_per_version": size / versions}
    else:
        size = int(psql(pg_url, "SELECT pg_total_relation_size('quotes') + pg_total_relation_size('quote_versions')"))
        rows = int(psql(pg_url, "SELECT count(*) FROM quote_versions"))
        r["disk"] = {"bytes": size, "quotes": committed, "versions": rows, "bytes_per_version": size / rows}
        # The database's ceiling: one commit's statements, 64 clients, nothing else.
        v = psql(pg_url, "SELECT request || chr(1) || response || chr(1) || audit FROM quote_versions WHERE kind = 'commit' LIMIT 1")
        req_text, resp_text, audit_text = v.split("\x01")
        script = os.path.join(tmp, "commit.sql")
        pgbench_script(script, req_text, resp_text, audit_text)
        pgbench = glob.glob("/usr/lib/postgresql/*/bin/pgbench")[0]
        log(f"== postgres: pgbench, one commit's statements, 64 clients, {rounds} rounds of {long} s")
        tps = []
        for i in range(rounds):
            run = subprocess.run([pgbench, "-n", "-c", "64", "-j", "2", "-T", str(long), "-f", script, pg_url],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                raise SystemExit(f"pgbench failed: {run.stderr[-2000:]}")
            out = run.stdout
            tps.append(float(re.search(r"tps = ([\d.]+)", out).group(1)))
            log(f"   round {i + 1}: {tps[-1]:.0f} transactions/s")
        r["pgbench_tps"] = bh.median(tps)
        r["pgbench_rounds"] = tps
        r["commit_over_pgbench"] = r["commit_rps"] / r["pgbench_tps"]
        log(f"   median {r['pgbench_tps']:.0f}; Levy's commits {r['commit_rps']:.0f}/s = {r['commit_over_pgbench']:.1%} of it")
        subprocess.run([PG_CLUSTER, "stop", os.path.join(tmp, "pg")], capture_output=True)
    log(f"   disk: {r['disk']['bytes_per_version']:.0f} bytes per stored version ({r['disk']['versions']:.0f} versions); "
        f"JSON request {r['json_bytes']['request']} + response {r['json_bytes']['response']} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--backend", choices=["sled", "postgres", "both"], default="both")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="levy-bench-commit-")
    results = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "cores": os.cpu_count()}
    try:
        for backend in (["sled", "postgres"] if args.backend == "both" else [args.backend]):
            run_backend(backend, args, tmp, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    log("== summary")
    for backend in ("sled", "postgres"):
        if backend not in results:
            continue
        r = results[backend]
        line = (f"   {backend}: commits {r['commit_over_estimate']:.1%} of estimates; p99 at 16 clients "
                f"{r['commit_16']['p99_ms']:.2f} ms; adjust 200 vs 1 versions {r['adjust_ratio']:.2f}x")
        if "commit_over_pgbench" in r:
            line += f"; {r['commit_over_pgbench']:.1%} of pgbench"
        log(line)


if __name__ == "__main__":
    main()
