"""RPC latency: ghz on Status and List at concurrency 1, 16 and 64, with the service idle and while
a Run of all four migrations is working through a freshly loaded database."""
import json
import os
import subprocess
import time

import gen
from servers import Service

PROTO = "proto/twigz/migrations/v1/migration_service.proto"
METHODS = ["Status", "List"]
CONCURRENCY = [1, 16, 64]


def ghz(ctx, address, method, concurrency, seconds):
    source = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    cmd = [os.path.join(ctx.tools, "ghz"), "--insecure", "--proto", os.path.join(source, PROTO),
           "--import-paths", f"{os.path.join(source, 'proto')},/usr/include",
           "--call", f"twigz.migrations.v1.MigrationService.{method}", "-d", "{}",
           "-c", str(concurrency), "-z", f"{seconds}s", "--duration-stop", "ignore", "--connections", "1",
           "-O", "json", address]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if p.returncode != 0 and not p.stdout.strip():
        raise RuntimeError(f"ghz failed ({p.returncode}): {p.stderr[-1000:]}")
    report = json.loads(p.stdout)
    pct = {int(d["percentage"]): d["latency"] for d in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    return {"rps": report.get("rps"),
            "p50_ms": pct[50] / 1e6 if 50 in pct else None,
            "p99_ms": pct[99] / 1e6 if 99 in pct else None,
            "count": report.get("count"),
            "non_ok": {k: v for k, v in codes.items() if k != "OK"}}


def _running(ctx, address):
    """True while any migration is held: queued, running or finishing after a Cancel."""
    cmd = [os.path.join(ctx.tools, "grpcurl"), "-plaintext", "-d", "{}", address,
           "twigz.migrations.v1.MigrationService/Status"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return False
    held = ("MIGRATION_STATE_QUEUED", "MIGRATION_STATE_RUNNING", "MIGRATION_STATE_CANCELING")
    return any(m.get("state") in held for m in json.loads(p.stdout).get("migrations", []))


def _start_run(ctx, address):
    cmd = [os.path.join(ctx.tools, "grpcurl"), "-plaintext", "-d", '{"async": true, "rerun": true}', address,
           "twigz.migrations.v1.MigrationService/Run"]
    subprocess.run(cmd, capture_output=True, text=True, check=True)


def measure(ctx, client, n, seconds, log):
    """Loads N stores and customers, starts a service on them, and runs every ghz cell idle and
    then under load. Under load, a cell whose migration chain ended before the cell did is rerun
    on a freshly reloaded database."""
    dbname = f"bench_rpc_{n}"
    stores, customers = gen.generate(n)

    def reload():
        client.drop_database(dbname)
        gen.load(client[dbname], stores, customers)

    reload()
    svc = Service(ctx.binary, ctx.workdir, ctx.uri, dbname, f"rpc-{n}")
    out = {"n": n, "seconds": seconds, "tool_note": "(.tools/bin/ghz, --proto, plaintext)", "cells": [],
           "notes": [], "errors": {}}
    try:
        time.sleep(1)
        out["rss_idle_kb"] = svc.memory()["VmRSS"]
        cells = {}
        for method in METHODS:
            for c in CONCURRENCY:
                cells[(method, c)] = {"method": method, "concurrency": c,
                                      "idle": ghz(ctx, svc.address, method, c, seconds)}
                log(f"rpc idle {method} c={c}: {cells[(method, c)]['idle']}")
        load_rss = 0
        for method in METHODS:
            for c in CONCURRENCY:
                for attempt in range(3):
                    if not _running(ctx, svc.address):
                        if attempt or (method, c) != (METHODS[0], CONCURRENCY[0]):
                            reload()
                        _start_run(ctx, svc.address)
                        time.sleep(0.5)
                    result = ghz(ctx, svc.address, method, c, seconds)
                    load_rss = max(load_rss, svc.memory()["VmRSS"])
                    if _running(ctx, svc.address):
                        break
                    out["notes"].append(f"{method} c={c}: the migration ended during the cell; measured again")
                cells[(method, c)]["load"] = result
                log(f"rpc load {method} c={c}: {result}")
        out["cells"] = list(cells.values())
        for cell in out["cells"]:
            for phase in ("idle", "load"):
                if cell.get(phase, {}).get("non_ok"):
                    out["errors"][f"{cell['method']} c={cell['concurrency']} {phase}"] = cell[phase]["non_ok"]
        mem = svc.memory()
        out["rss_load_kb"] = max(load_rss, mem["VmRSS"])
        out["peak_rss_kb"] = mem["VmHWM"]
    finally:
        svc.stop()
        client.drop_database(dbname)
    return out
