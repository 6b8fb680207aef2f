#!/usr/bin/env python3
"""How closely the controls hold: the rate a run reaches under max_documents_per_second, what the
pacing costs a run without limits, and how long Pause and Resume take to act.

Runs on the embedded default (the FerretDB launcher, as deploy/local/run.sh starts it) with the
service built in build-bench/ (tests/bench/run.sh builds it). Prints a Markdown table, for
docs/benchmarks.md:

    tests/bench/controls.py [--docs 3000] [--rates 100,500,2000] [--out FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import pymongo
from bson import ObjectId

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from servers import FerretDB, Service, wait_for  # noqa: E402

TOOLS = os.path.join(ROOT, ".tools", "bin")
METHOD = "twigz.migrations.v1.MigrationService/"


def grpc(address, method, data):
    p = subprocess.run([os.path.join(TOOLS, "grpcurl"), "-plaintext", "-d", json.dumps(data), address,
                        METHOD + method], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{method} {data}: {p.stderr.strip()}")
    return json.loads(p.stdout)


def status(address, name):
    return grpc(address, "Status", {"names": [name]})["migrations"][0]


def fresh(db, n):
    db.stores.drop()
    for name in ("_migrations", "_migrations_leases", "_migrations_history"):
        db[name].drop()
    db.stores.insert_many([{"_id": ObjectId(), "name": f"store {i}"} for i in range(n)])


def timed_run(address, request):
    start = time.monotonic()
    m = grpc(address, "Run", request)["migrations"][0]
    if m["state"] != "MIGRATION_STATE_SUCCEEDED":
        raise RuntimeError(f"Run {request}: {m}")
    return time.monotonic() - start, int(m["updated"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--rates", default="100,500,2000")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build-bench", "twigz-migrations"))
    ap.add_argument("--out")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tm-bench-controls-")
    server = FerretDB(os.path.join(TOOLS, "twigz-ferretdb"), work).start()
    svc = Service(args.binary, work, server.uri, "bench_controls", "controls")
    db = pymongo.MongoClient(server.uri)["bench_controls"]
    rows = []
    try:
        fresh(db, args.docs)
        secs, n = timed_run(svc.address, {"names": ["addStatusToStores"], "maxDocumentsPerSecond": 0})
        rows.append(("no limit (pacing on, nothing to wait for)", f"{n / secs:,.0f}", "", f"{secs:.2f}"))
        for rate in (float(r) for r in args.rates.split(",")):
            fresh(db, args.docs)
            secs, n = timed_run(svc.address, {"names": ["addStatusToStores"], "maxDocumentsPerSecond": rate})
            rows.append((f"max_documents_per_second {rate:g}", f"{n / secs:,.0f}", f"{n / secs / rate:.3f}",
                         f"{secs:.2f}"))

        # Pause: from the call to PAUSED stored; Resume: from the call to the next batch written.
        fresh(db, args.docs)
        grpc(svc.address, "Run", {"names": ["addStatusToStores"], "maxDocumentsPerSecond": 200, "async": True})
        wait_for(lambda: int(status(svc.address, "addStatusToStores").get("processed", "0")) > 0, 60, "progress")
        t0 = time.monotonic()
        grpc(svc.address, "Pause", {"name": "addStatusToStores"})
        wait_for(lambda: status(svc.address, "addStatusToStores")["state"] == "MIGRATION_STATE_PAUSED", 60,
                 "PAUSED")
        pause_s = time.monotonic() - t0
        before = int(status(svc.address, "addStatusToStores")["processed"])
        t0 = time.monotonic()
        grpc(svc.address, "Resume", {"name": "addStatusToStores"})
        wait_for(lambda: (s := status(svc.address, "addStatusToStores"))["state"] == "MIGRATION_STATE_RUNNING"
                 and int(s.get("processed", "0")) > 0, 60, "the resumed run's first batch")
        resume_s = time.monotonic() - t0
        wait_for(lambda: status(svc.address, "addStatusToStores")["state"] == "MIGRATION_STATE_SUCCEEDED", 120,
                 "the end")
    finally:
        svc.stop()
        server.stop()
    lines = [f"Controls on the embedded default, {args.docs:,} stores, addStatusToStores, batch size 500:", "",
             "| run | documents/s | of the limit | seconds |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", f"Pause to PAUSED stored: {pause_s:.2f} s (paused at {before:,} of {args.docs:,}); "
              f"Resume to its first batch written: {resume_s:.2f} s.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
