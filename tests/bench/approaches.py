"""The four ways of running the TWIGZ backfills, each on its own freshly loaded database.

Each runner returns {"migrations": [{"migration", "docs", "seconds", "capped"}], ...extra}: docs is
the number of documents the approach changed, seconds its own wall time for that migration.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import limit
import spec
from proxy import CountingProxy
from servers import Service

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATE_MONGO = os.path.join(HERE, "migrate-mongo")
MONITORING = {"hello", "isMaster", "ismaster", "ping", "OP_QUERY", "buildInfo", "buildinfo",
              "endSessions"}


def run_limit(ctx, db):
    return {"migrations": limit.run(db)}


def run_one_at_a_time(ctx, db):
    cmd = [sys.executable, os.path.join(HERE, "one_at_a_time.py"), "--uri", ctx.uri,
           "--database", db.name, "--cap", str(ctx.slow_cap)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE)
    if p.returncode != 0:
        raise RuntimeError(f"one_at_a_time.py failed ({p.returncode}): {p.stderr[-3000:]}")
    return {"migrations": [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]}


def ensure_migrate_mongo():
    """Installs the pinned migrate-mongo (npm ci) when node_modules is missing; None when ready,
    else why it cannot run."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not installed"
    if not os.path.exists(os.path.join(MIGRATE_MONGO, "node_modules", ".bin", "migrate-mongo")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MIGRATE_MONGO,
                           capture_output=True, text=True)
        if p.returncode != 0:
            return f"npm ci failed: {p.stderr[-500:]}"
    return None


def run_migrate_mongo(ctx, db):
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", dir=ctx.workdir) as timings:
        env = dict(os.environ, BENCH_MONGODB_URI=ctx.uri, BENCH_DATABASE=db.name,
                   BENCH_TIMINGS=timings.name)
        p = subprocess.run([os.path.join(MIGRATE_MONGO, "node_modules", ".bin", "migrate-mongo"), "up"],
                           cwd=MIGRATE_MONGO, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"migrate-mongo up failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}")
        rows = [json.loads(line) for line in timings.read().splitlines() if line.strip()]
    for r in rows:
        r["capped"] = False
    return {"migrations": rows}


def _grpcurl(ctx, address, method, data):
    cmd = [os.path.join(ctx.tools, "grpcurl"), "-plaintext", "-d", json.dumps(data), address,
           f"twigz.migrations.v1.MigrationService/{method}"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{method} {data} failed ({p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def _epoch(timestamp):
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _service_migrate(ctx, address, name, cap):
    """One migration through a synchronous Run; a timer Cancels it once it has run cap seconds.

    Seconds run from the Run call to the migration's own finishedAt (same machine clock). No
    Status polling: its reads would count as the service's database commands."""
    canceled = threading.Event()

    def cancel():
        canceled.set()
        try:
            _grpcurl(ctx, address, "Cancel", {"name": name})
        except RuntimeError:
            pass  # it ended in between

    timer = threading.Timer(cap, cancel) if cap else None
    start = time.time()
    if timer:
        timer.start()
    try:
        request = {"names": [name]}
        if ctx.service_batch_size:
            request["batchSize"] = ctx.service_batch_size
        status = _grpcurl(ctx, address, "Run", request)["migrations"][0]
    finally:
        if timer:
            timer.cancel()
    state = status.get("state")
    capped = canceled.is_set() and state == "MIGRATION_STATE_CANCELED"
    if state != "MIGRATION_STATE_SUCCEEDED" and not capped:
        raise RuntimeError(f"Run {name} ended {state}: {status.get('error')}")
    end = _epoch(status["finishedAt"]) if status.get("finishedAt") else time.time()
    return {"migration": name, "docs": int(status.get("updated", 0)), "seconds": end - start,
            "capped": capped}


def run_service(ctx, db, count_commands=False):
    """The real binary, one Run per migration in registry order, timed from the RPC (a grpcurl
    process: its ~20 ms start is inside the time) to the migration's finishedAt; a migration still
    running after the cap is canceled (ctx.service_cap, or ctx.count_cap when counting). With
    count_commands the service talks to FerretDB through CountingProxy and the commands each Run
    sent are recorded."""
    proxy = None
    uri = ctx.uri
    if count_commands:
        proxy = CountingProxy(ctx.ferret.host, ctx.ferret.port)
        uri = f"mongodb://127.0.0.1:{proxy.port}/"
    tag = f"{ctx.backend}-{ctx.n}-{'counted' if count_commands else 'timed'}"
    svc = Service(ctx.binary, ctx.workdir, uri, db.name, tag)
    try:
        rows, commands = [], {}
        for name in spec.NAMES:
            if ctx.service_migrations and name not in ctx.service_migrations:
                continue
            before = proxy.snapshot() if proxy else None
            cap = ctx.count_cap if count_commands else ctx.service_cap
            t0 = time.time()
            try:
                rows.append(_service_migrate(ctx, svc.address, name, cap))
            except RuntimeError as e:
                # Kept in the results (and the report) rather than ending the benchmark.
                rows.append({"migration": name, "docs": 0, "seconds": time.time() - t0, "capped": False,
                             "error": str(e)[:300]})
            if proxy:
                diff = proxy.snapshot() - before
                work = {k: v for k, v in diff.items() if k not in MONITORING}
                commands[name] = {"total": sum(work.values()), "by_command": dict(sorted(work.items())),
                                  "docs": rows[-1]["docs"], "capped": rows[-1]["capped"],
                                  "monitoring": sum(v for k, v in diff.items() if k in MONITORING)}
        memory = svc.memory()
        cpu = svc.cpu()
    finally:
        svc.stop()
        if proxy:
            proxy.close()
    out = {"migrations": rows, "peak_rss_kb": memory["VmHWM"], "rss_kb": memory["VmRSS"],
           "service_cpu_seconds": cpu, "log": svc.log_path}
    if count_commands:
        out["commands"] = commands
    return out


RUNNERS = {
    "limit": run_limit,
    "service": run_service,
    "one-at-a-time": run_one_at_a_time,
    "migrate-mongo": run_migrate_mongo,
}
LABELS = {
    "limit": "limit (updateMany / precomputed bulk write)",
    "service": "twigz-migrations",
    "one-at-a-time": "one at a time (seed's shape)",
    "migrate-mongo": "migrate-mongo",
}
