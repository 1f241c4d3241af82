#!/usr/bin/env python3
"""The measurement behind scripts/bench-zip-import (run that: it installs wrk and builds)."""
import base64
import csv
import glob
from http.client import HTTPConnection
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_http import (ADMIN_TOKEN, ESTIMATE_LUA, LEVY, PATTERNS, ROOT, estimate_body, http, log,  # noqa: E402
                        rss_mib, start, wrk, zone_rules)


def main():
    tmp = tempfile.mkdtemp(prefix="levy-zip-")
    tables = os.path.join(tmp, "tables")
    subprocess.run([os.path.join(ROOT, "scripts", "gen-zip-rates"), tables, "--month", "202401"], check=True)
    files = sorted(glob.glob(os.path.join(tables, "*.csv")))
    rows = []
    for f in files:
        rows += list(csv.DictReader(open(f, newline="")))
    log(f"== {len(rows)} rows in {len(files)} files")
    config = os.path.join(tmp, "config.toml")
    with open(config, "w") as f:
        f.write(f'data_dir = "{tmp}/data"\nlisten = "127.0.0.1:0"\nadmin_listen = "127.0.0.1:0"\n')
    env = {**os.environ, "LEVY_ADMIN_TOKEN": ADMIN_TOKEN, "LEVY_LOG": "warn"}
    levy, addr = start([LEVY, "serve", "--config", config], env, PATTERNS)
    try:
        public, admin = addr["public"], addr["admin"]
        bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        auths = {}
        for acct, rules in (("ten", zone_rules(10)), ("zips", None)):
            http("POST", f"{admin}/admin/accounts", {"id": acct}, bearer)
            if rules:
                http("PUT", f"{admin}/admin/accounts/{acct}/rules", rules, bearer)
            cred = http("POST", f"{admin}/admin/accounts/{acct}/credentials", None, bearer)["data"]
            auths[acct] = base64.b64encode(f"{cred['username']}:{cred['password']}".encode()).decode()
        lua = os.path.join(tmp, "estimate.lua")
        open(lua, "w").write(ESTIMATE_LUA)
        ten_body = os.path.join(tmp, "ten.json")
        json.dump(estimate_body(3, "10005"), open(ten_body, "w"))
        rss_before = rss_mib(levy.pid)

        log("== importing every state while wrk estimates against another account (1 connection)")
        during = {}
        load = threading.Thread(target=lambda: during.update(
            wrk(f"{public}/estimate", lua, {"BODY_FILE": ten_body, "AUTH_B64": auths["ten"], "HOST_HEADER": ""}, 1, 20, threads=1)))
        load.start()
        time.sleep(1)
        t0 = time.time()
        out = subprocess.run([LEVY, "rules", "import-zip-rates", "zips", *files],
                             env={**env, "LEVY_ADMIN_URL": admin}, capture_output=True, text=True)
        took = time.time() - t0
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        log(f"   import of {len(rows)} rows: {took:.1f} s; summary: {len(out.stdout.splitlines()) - 1} states")
        load.join()
        log(f"   estimates over 20 s around it: {during['rps']:.0f} req/s, p50 {during['p50_ms']:.3f} ms, "
            f"p99 {during['p99_ms']:.3f} ms, slowest {during['max_ms']:.1f} ms, no errors")

        log("== estimate latency after the import, same run (1 connection, 5 s each, 3 rounds)")
        rng = random.Random(7)
        zip_body = os.path.join(tmp, "zip.json")
        sample = rng.choice(rows)
        q = estimate_body(3, sample["ZipCode"])
        q["documents"][0]["destination_address"]["region_code"] = sample["State"]
        json.dump(q, open(zip_body, "w"))
        ratios = []
        for _ in range(3):
            ten = wrk(f"{public}/estimate", lua, {"BODY_FILE": ten_body, "AUTH_B64": auths["ten"], "HOST_HEADER": ""}, 1, 5, threads=1)
            zips = wrk(f"{public}/estimate", lua, {"BODY_FILE": zip_body, "AUTH_B64": auths["zips"], "HOST_HEADER": ""}, 1, 5, threads=1)
            ratios.append(zips["p50_ms"] / ten["p50_ms"])
            log(f"   10 zones: p50 {ten['p50_ms']:.3f} ms p99 {ten['p99_ms']:.3f} ms; "
                f"{len(rows)} ZIP zones: p50 {zips['p50_ms']:.3f} ms p99 {zips['p99_ms']:.3f} ms; ratio {ratios[-1]:.2f}")
        ratios.sort()
        log(f"   median p50 ratio {ratios[1]:.2f}")
        log(f"== resident memory: {rss_before:.0f} MiB before, {rss_mib(levy.pid):.0f} MiB after the import")

        log(f"== every ZIP ({len(rows)}): the quote carries the row's combined rate, split by jurisdiction")
        host, port = public.split("//")[1].split(":")
        conn = HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Basic {auths['zips']}", "X-Bc-Store-Hash": "s", "Content-Type": "application/json"}
        q = estimate_body(1, "00000")
        q["transaction_date"] = "2024-02-01T00:00:00Z"
        doc = q["documents"][0]
        doc["items"][0]["price"] = {"amount": 1000, "tax_inclusive": False}
        doc["items"][0].pop("tax_class", None)
        wrong = 0
        for row in rows:
            doc["destination_address"]["region_code"] = row["State"]
            doc["destination_address"]["postal_code"] = row["ZipCode"]
            conn.request("POST", "/estimate", json.dumps(q), headers)
            price = json.loads(conn.getresponse().read())["documents"][0]["items"][0]["price"]
            parts = sorted(Decimal(str(s["rate"])) for s in price["sales_tax_summary"])
            want = sorted(Decimal(row[k]) for k in ("StateRate", "EstimatedCountyRate", "EstimatedCityRate", "EstimatedSpecialRate") if Decimal(row[k]) != 0)
            if parts != want or Decimal(str(price["tax_rate"])) != Decimal(row["EstimatedCombinedRate"]):
                wrong += 1
                if wrong < 10:
                    log(f"   {row['State']} {row['ZipCode']}: got {parts}, want {want}")
        log(f"   {len(rows) - wrong} of {len(rows)} right")
        if wrong:
            raise SystemExit(1)

        for month in ("202402", "202403", "202404"):
            log(f"== the next month ({month}): 2 % of ZIPs change a rate, 0.2 % leave the table")
            nxt = os.path.join(tmp, month)
            subprocess.run([os.path.join(ROOT, "scripts", "gen-zip-rates"), nxt, "--month", month, "--change", "0.02",
                            "--drop", "0.002", "--seed", "1"], check=True, capture_output=True)
            t0 = time.time()
            out = subprocess.run([LEVY, "rules", "import-zip-rates", "zips", *sorted(glob.glob(os.path.join(nxt, "*.csv")))],
                                 env={**env, "LEVY_ADMIN_URL": admin}, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            took = time.time() - t0
            totals = [0, 0, 0]
            for line in out.stdout.splitlines()[1:]:
                nums = [int(x) for x in re.findall(r"[+ ](\d+)", line.split(":", 1)[1])]
                totals = [totals[0] + nums[3], totals[1] + nums[4], totals[2] + nums[5]]
            peak = rss_mib(levy.pid)
            time.sleep(15)
            log(f"   re-import: {took:.1f} s; rates added {totals[0]}, closed {totals[1]}, unchanged {totals[2]}; "
                f"RSS {peak:.0f} MiB right after, {rss_mib(levy.pid):.0f} MiB 15 s later")
    finally:
        levy.terminate()


if __name__ == "__main__":
    main()
