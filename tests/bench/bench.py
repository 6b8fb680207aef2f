"""The migration benchmark: every approach on a freshly loaded database of each size, the same
server, one run; writes benchmarks.md (and the plot) into --out. run.sh is the usual entry point.

  bench.py --out DIR --binary BUILD/twigz-migrations [--sizes 10000,100000] [--postgres] [--rpc]
           [--smoke] [--approaches limit,service,one-at-a-time,migrate-mongo] [--slow-cap 60]
           [--no-count] [--no-plot] [--workdir DIR]
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import pymongo
from bson import json_util
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

import approaches
import gen
import report
from servers import FerretDB, MongoJava, Postgres, cpu_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
RAW = CodecOptions(document_class=RawBSONDocument)
ORDER = ["limit", "service", "one-at-a-time", "migrate-mongo"]


class Context:
    """What a runner needs: the server, the binary and tools, the size being measured."""

    def __init__(self, args, ferret, workdir):
        self.ferret = ferret
        self.uri = ferret.uri
        self.backend = ferret.backend
        self.binary = args.binary
        self.tools = args.tools
        self.workdir = workdir
        self.slow_cap = args.slow_cap
        self.service_cap = args.service_cap
        self.count_cap = args.count_cap
        self.service_batch_size = args.service_batch_size
        self.service_migrations = [m for m in (args.service_migrations or "").split(",") if m]
        self.n = 0


def snapshot(db):
    """Every stores and customers document (raw BSON, _id order) and their index specs."""
    out = {}
    for name in ("stores", "customers"):
        coll = db[name].with_options(codec_options=RAW)
        docs = [(d["_id"], d.raw) for d in coll.find().sort("_id", 1)]
        indexes = sorted((i["name"], json.dumps(list(i["key"].items())), bool(i.get("unique")))
                         for i in db[name].list_indexes())
        out[name] = {"docs": docs, "indexes": indexes}
    return out


def digest(snap):
    h = hashlib.sha256()
    for name in sorted(snap):
        for _id, raw in snap[name]["docs"]:
            h.update(raw)
        h.update(repr(snap[name]["indexes"]).encode())
    return h.hexdigest()


def differences(reference, snap, limit=5):
    """Up to `limit` human-readable differences between two snapshots."""
    out = []
    for name in sorted(reference):
        if reference[name]["indexes"] != snap[name]["indexes"]:
            out.append(f"{name} indexes: {snap[name]['indexes']} (reference {reference[name]['indexes']})")
        ref = dict(reference[name]["docs"])
        got = dict(snap[name]["docs"])
        if len(ref) != len(got):
            out.append(f"{name}: {len(got)} documents (reference {len(ref)})")
        for _id, raw in snap[name]["docs"]:
            if ref.get(_id) != raw:
                want = RawBSONDocument(ref[_id]) if _id in ref else None
                out.append(f"{name} {_id}: {json_util.dumps(RawBSONDocument(raw))[:300]} "
                           f"(reference {json_util.dumps(want)[:300] if want else 'absent'})")
                if len(out) >= limit:
                    return out
    return out


def machine():
    info = {"nproc": os.cpu_count(), "python": platform.python_version(),
            "pymongo": pymongo.version, "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg()}
    try:
        with open("/proc/cpuinfo") as f:
            models = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        info["cpu"] = models[0] if models else platform.processor()
        with open("/proc/meminfo") as f:
            kb = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    for tool, cmd in (("node", ["node", "--version"]), ("git_commit", ["git", "-C", SOURCE, "rev-parse", "--short", "HEAD"])):
        try:
            info[tool] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return info


def log(msg):
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def wanted_names():
    import spec
    return spec.NAMES


def run_size(args, ctx, client, n, wanted, saved):
    """Every wanted approach at size n on ctx's server, into saved's "runs" (written out after
    each approach, so a stopped run keeps what it measured)."""
    ctx.n = n
    t0 = time.monotonic()
    stores, customers = gen.generate(n)
    log(f"{ctx.backend} N={n}: generated in {time.monotonic() - t0:.1f}s")
    result = {"backend": ctx.backend, "n": n, "approaches": {}}
    saved["runs"].append(result)
    reference = None
    runs = []
    for a in wanted:
        runs.append((a, False))
        if a == "service" and not args.no_count:
            runs.append(("service", True))  # the counting run right after the timed one
    for approach, counted in runs:
        dbname = f"bench_{n}_{approach.replace('-', '_')}{'_counted' if counted else ''}"
        client.drop_database(dbname)
        db = client[dbname]
        t0 = time.monotonic()
        gen.load(db, stores, customers)
        load_s = time.monotonic() - t0
        log(f"{ctx.backend} N={n} {approach}{' (counting commands)' if counted else ''}: loaded in {load_s:.1f}s")
        cpu0, wall0 = cpu_seconds(ctx.ferret.proc.pid), time.monotonic()
        if counted:
            out = approaches.run_service(ctx, db, count_commands=True)
        else:
            out = approaches.RUNNERS[approach](ctx, db)
        # Where the time went: the server's CPU over the approach's whole run (set-up included).
        out["server_cpu_seconds"] = cpu_seconds(ctx.ferret.proc.pid) - cpu0
        out["wall_seconds"] = time.monotonic() - wall0
        out["load_seconds"] = load_s
        for m in out["migrations"]:
            rate = m["docs"] / m["seconds"] if m["seconds"] > 0 else 0
            log(f"  {m['migration']}: {m['docs']} docs in {m['seconds']:.2f}s = {rate:.0f}/s"
                f"{' (capped)' if m.get('capped') else ''}")
        capped = any(m.get("capped") or m.get("error") for m in out["migrations"]) or \
            len(out["migrations"]) < len(wanted_names())
        if not capped:
            snap = snapshot(db)
            out["digest"] = digest(snap)
            if reference is None:
                reference = (approach, snap)
                out["same_as_reference"] = True
            else:
                diffs = differences(reference[1], snap)
                out["same_as_reference"] = not diffs
                out["differences"] = diffs
                if diffs:
                    log(f"  DIFFERENT from {reference[0]}: {diffs[0]}")
            out["reference"] = reference[0]
        if not args.keep:
            client.drop_database(dbname)
        if counted:
            result["approaches"]["service"]["commands"] = out.get("commands", {})
            result["approaches"]["service"]["counted_run_same"] = out.get("same_as_reference")
        else:
            result["approaches"][approach] = out
        save(args, ctx.workdir, saved)


def merge_approach(approaches, name, out):
    """Adds one run's results for an approach to another's at the same size: whole when the
    approach is new there or the later run measured every migration the earlier one did, else
    migration by migration (the later run's measure wins; peak RSS is the larger: the earlier
    process's peak may have come from a migration it still stands for), as when a
    million-document run measures some migrations at a time."""
    have = approaches.get(name)
    measured = {m["migration"] for m in out.get("migrations", [])}
    if have is None or measured >= {m["migration"] for m in have.get("migrations", [])}:
        approaches[name] = out
        return
    later = {m["migration"]: m for m in out.get("migrations", [])}
    have["migrations"] = [later.pop(m["migration"], m) for m in have.get("migrations", [])]
    have["migrations"] += list(later.values())
    if "peak_rss_kb" in out:
        have["peak_rss_kb"] = max(have.get("peak_rss_kb", 0), out["peak_rss_kb"])
    for key in ("commands", "wall_seconds", "server_cpu_seconds", "ferretdb_cpu_seconds", "service_cpu_seconds", "load_seconds"):
        have.pop(key, None)  # whole-approach figures no longer describe the merged rows


def main(argv=None):
    ap = argparse.ArgumentParser(description="twigz-migrations benchmark")
    ap.add_argument("--out", required=True, help="directory for benchmarks.md and the plot")
    ap.add_argument("--binary", help="the twigz-migrations binary (required unless --report-only)")
    ap.add_argument("--report-only", metavar="RESULTS_JSON", nargs="+",
                    help="only write the report again from runs' bench-results.json (several: merged)")
    ap.add_argument("--tools", default=os.path.join(SOURCE, ".tools", "bin"))
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--approaches", default=",".join(ORDER))
    ap.add_argument("--postgres", action="store_true", help="also on FerretDB over PostgreSQL")
    ap.add_argument("--no-sqlite", action="store_true", help="not on the embedded default (FerretDB on SQLite)")
    ap.add_argument("--mongo-java", action="store_true", help="also on mongo-java-server (memory backend)")
    ap.add_argument("--rpc", action="store_true", help="ghz on Status and List, idle and under load")
    ap.add_argument("--rpc-size", type=int, default=100000)
    ap.add_argument("--rpc-seconds", type=float, default=5)
    ap.add_argument("--slow-cap", type=float, default=60,
                    help="seconds per migration for the one-at-a-time baseline (0: none)")
    ap.add_argument("--service-cap", type=float, default=0,
                    help="seconds before a service migration is canceled (0: none); its rate is then "
                         "over the documents done")
    ap.add_argument("--count-cap", type=float, default=0,
                    help="the same for the command-counting run (commands are then per document done)")
    ap.add_argument("--service-batch-size", type=int, default=0,
                    help="Run's batchSize for the service (0: the service's default)")
    ap.add_argument("--service-migrations", help="comma-separated: run only these through the service")
    ap.add_argument("--no-count", action="store_true", help="skip the service's command-counting run")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="CI mode: no plot, no cap")
    ap.add_argument("--keep", action="store_true", help="keep the databases after each approach")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one, removed)")
    ap.add_argument("--command", help="the command line to print as the way to reproduce")
    ap.add_argument("--note", help="with --report-only: a sentence for the report's header")
    args = ap.parse_args(argv)
    if args.report_only:
        os.makedirs(args.out, exist_ok=True)
        merged = None
        for path in args.report_only:
            with open(path) as f:
                one = json.load(f)
            part = {"command": one["command"], "sizes": [r["n"] for r in one["runs"]],
                    "approaches": sorted({a for r in one["runs"] for a in r["approaches"]}),
                    "rpc": bool(one.get("rpc")), "started": one["started"],
                    "caps": {k: one.get(k) for k in ("service_cap", "count_cap", "slow_cap")},
                    "commit": one.get("machine", {}).get("git_commit", "?")}
            if merged is None:
                merged = one
                merged["merged_from"] = [part]
                continue
            for run in one["runs"]:
                same = next((r for r in merged["runs"] if (r["backend"], r["n"]) == (run["backend"], run["n"])), None)
                if same:
                    for name, out in run["approaches"].items():
                        merge_approach(same["approaches"], name, out)
                else:
                    merged["runs"].append(run)
            merged["merged_from"].append(part)
            merged["finished"] = one.get("finished", merged.get("finished"))
            merged["rpc"] = one.get("rpc") or merged.get("rpc")
            merged["skipped"].update(one.get("skipped", {}))
        if len(merged["merged_from"]) > 1 and args.command:
            merged["command"] = args.command
        if args.note:
            merged["note"] = args.note
        report.write(merged, args.out, plot=not args.no_plot)
        return 0
    if not args.binary:
        ap.error("--binary is required")
    if args.smoke:
        args.no_plot, args.slow_cap, args.service_cap, args.count_cap = True, 0, 0, 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    wanted = [a for a in ORDER if a in args.approaches.split(",")]
    os.makedirs(args.out, exist_ok=True)
    workdir = args.workdir or tempfile.mkdtemp(prefix="tm-bench-")
    os.makedirs(workdir, exist_ok=True)

    results = {"machine": machine(), "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": args.command or " ".join(sys.argv), "sizes": sizes, "runs": [], "skipped": {},
               "slow_cap": args.slow_cap, "service_cap": args.service_cap, "count_cap": args.count_cap,
               "service_batch_size": args.service_batch_size}
    if "migrate-mongo" in wanted:
        why = approaches.ensure_migrate_mongo()
        if why:
            results["skipped"]["migrate-mongo"] = why
            wanted.remove("migrate-mongo")
            log(f"migrate-mongo skipped: {why}")

    backends = [] if args.no_sqlite else ["sqlite"]
    if args.postgres:
        backends.append("postgresql")
    if args.mongo_java:
        backends.append("mongo-java")
    started = []
    try:
        for backend in backends:
            pg = None
            if backend == "postgresql":
                pg = Postgres(workdir).start()
                started.append(pg)
                results["machine"]["postgresql"] = os.path.basename(os.path.dirname(pg.bindir))
            # A reused --workdir must not carry a previous run's data into this one.
            shutil.rmtree(os.path.join(workdir, backend), ignore_errors=True)
            os.makedirs(os.path.join(workdir, backend))
            if backend == "mongo-java":
                ferret = MongoJava(os.path.join(args.tools, "twigz-mongo-java"), os.path.join(workdir, backend))
            else:
                ferret = FerretDB(os.path.join(args.tools, "twigz-ferretdb"), os.path.join(workdir, backend),
                                  postgresql_url=pg.url if pg else None)
            ferret.start()
            started.append(ferret)
            ctx = Context(args, ferret, workdir)
            with pymongo.MongoClient(ferret.uri) as client:
                # RPC first: it is bounded, and a long size that gets stopped keeps it.
                if args.rpc and backend == backends[0]:
                    import rpc
                    results["rpc"] = rpc.measure(ctx, client, args.rpc_size, args.rpc_seconds, log)
                    save(args, workdir, results)
                for n in sizes:
                    run_size(args, ctx, client, n, wanted, results)
            ferret.stop()
            started.remove(ferret)
            if pg:
                pg.stop()
                started.remove(pg)
    finally:
        for proc in reversed(started):
            proc.stop()
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    save(args, workdir, results)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    mismatched = [(r["backend"], r["n"], a) for r in results["runs"] for a, o in r["approaches"].items()
                  if o.get("same_as_reference") is False]
    if mismatched:
        log(f"final databases differ: {mismatched}")
        return 1
    return 0


def save(args, workdir, results):
    with open(os.path.join(workdir, "bench-results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    report.write(results, args.out, plot=not args.no_plot)
    log(f"wrote {os.path.join(args.out, 'benchmarks.md')} (raw: {os.path.join(workdir, 'bench-results.json')})")


if __name__ == "__main__":
    sys.exit(main())
