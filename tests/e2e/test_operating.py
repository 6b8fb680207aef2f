"""Operating a backfill, end to end: drift swept, states an operator can act on (QUEUED, CANCELING,
INTERRUPTED), progress in every log, dry runs that find every problem. Real binary, real server,
grpcurl and migratectl."""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from bson import ObjectId

from harness import BINARY, HELD, SOURCE, call, ctl, env_without_twigz, grpcurl, make_certificates, wait_until

# An ObjectId from 2001-01-01: a client-made _id that sorts before anything a run has seen.
OLD_ID = ObjectId("3a4f7c000000000000000001")


def status_of(svc, name, **extra):
    return call(svc.address, "Status", {"names": [name], **extra})["migrations"][0]


def stores(n):
    # ObjectId _ids: both servers look them up by index.
    return [{"_id": ObjectId(), "name": f"store {i}"} for i in range(n)]


def customers(n):
    return [{"_id": ObjectId(), "name": f"Customer {i}"} for i in range(n)]


# --- drift ---

def test_a_run_after_new_documents_arrive_sweeps_them_as_a_new_run(db, start_service):
    db.stores.insert_many(stores(20))
    svc = start_service(database=db.name)
    first = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert first["state"] == "MIGRATION_STATE_SUCCEEDED"
    # Written by old pods during a rollout, after the migration ended: one behind everything it saw.
    db.stores.insert_many([{"_id": OLD_ID, "name": "old pod"}, {"_id": ObjectId(), "name": "old pod"}])

    plain = status_of(svc, "addStatusToStores")
    assert plain["state"] == "MIGRATION_STATE_SUCCEEDED" and not plain.get("drifted"), plain
    counted = status_of(svc, "addStatusToStores", includePending=True)
    assert counted.get("drifted") is True and counted["pending"] == "2", counted

    again = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert again["state"] == "MIGRATION_STATE_SUCCEEDED", again
    assert not again.get("skipped") and again.get("sweptDrift") is True, again
    assert again["runId"] != first["runId"]
    assert again["updated"] == "2", again
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0
    assert any(e["msg"].startswith("migration had succeeded, but documents match its filter again")
               and e["migration"] == "addStatusToStores" for e in svc.log_entries()), svc.logs()
    after = status_of(svc, "addStatusToStores", includePending=True)
    assert not after.get("drifted") and after.get("pending", "0") == "0", after

    # Nothing left: the next Run skips it, and migratectl says which run swept it.
    third = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert third.get("skipped") is True and third["runId"] == again["runId"], third
    db.stores.insert_one({"_id": ObjectId(), "name": "late"})
    p = ctl("--addr", svc.address, "run", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "swept drift" in p.stdout, p.stdout


def test_a_document_written_behind_the_cursor_after_a_cancel_is_swept(db, slow_db, start_service):
    db.customers.insert_many(customers(300))
    svc = start_service(database=db.name, mongodb_uri=slow_db.uri)
    call(svc.address, "Run", {"names": ["addPrivacyToCustomers"], "async": True, "batchSize": 1})
    wait_until(lambda: int(status_of(svc, "addPrivacyToCustomers").get("processed", "0")) > 0, 60,
               what="the run to make progress")
    call(svc.address, "Cancel", {"name": "addPrivacyToCustomers"})
    canceled = wait_until(lambda: (s := status_of(svc, "addPrivacyToCustomers"))["state"] not in HELD and s, 60,
                          what="the run to stop")
    assert canceled["state"] == "MIGRATION_STATE_CANCELED", canceled
    assert int(canceled["processed"]) < 300, "canceled mid-run"
    db.customers.insert_one({"_id": OLD_ID, "name": "Written by hand"})
    record = call(svc.address, "History", {"name": "addPrivacyToCustomers"})["runs"][0]
    assert record["state"] == "MIGRATION_STATE_CANCELED" and record["runId"] == canceled["runId"], record
    assert record["canceledBy"]["peer"].startswith("ipv4:127.0.0.1:") and "grpcurl" in record["canceledBy"]["userAgent"]
    assert record["canceledAt"] >= record["startedAt"], record

    fast = start_service(database=db.name)
    resumed = call(fast.address, "Run", {"names": ["addPrivacyToCustomers"], "batchSize": 100})["migrations"][0]
    assert resumed["state"] == "MIGRATION_STATE_SUCCEEDED", resumed
    assert db.customers.find_one({"_id": OLD_ID})["isPrivate"] is True
    assert db.customers.count_documents({"isPrivate": {"$exists": False}}) == 0
    assert status_of(fast, "addPrivacyToCustomers", includePending=True).get("pending", "0") == "0"
    entries = fast.log_entries()
    resumed_lines = [e for e in entries if e["msg"] == "migration resumed from its saved cursor"]
    assert resumed_lines and re.match(r"resumed at [\d,]+ of [\d,]+", resumed_lines[0]["progress"]), resumed_lines
    assert any(e["msg"].startswith("documents left behind the cursor") for e in entries), fast.logs()


def state_gauge(metrics, migration, state):
    return metrics.get(("migration_state", (("migration", migration), ("state", state))))


def run_gauges(metrics, migration):
    return {name: metrics.get((name, (("migration", migration),))) for name in
            ("migration_run_documents", "migration_run_documents_processed", "migration_run_documents_pending")}


# --- states ---

def test_an_async_run_answers_its_later_migrations_queued(db, start_service):
    db.stores.insert_many(stores(50))
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"names": ["addStatusToStores", "ensureStoreFields"], "async": True})
    assert [m["state"] for m in resp["migrations"]] == ["MIGRATION_STATE_QUEUED"] * 2, resp
    wait_until(lambda: all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in
                           call(svc.address, "Status", {"names": ["addStatusToStores", "ensureStoreFields"]})
                           ["migrations"]), 60, what="both to succeed")


def test_sigterm_mid_run_leaves_it_interrupted_and_the_one_shot_mode_exits_75(db, slow_db, workdir, start_service):
    db.stores.insert_many(stores(300))
    env = {**env_without_twigz(), "MONGODB_URI": slow_db.uri, "MONGODB_DATABASE": db.name}
    log = os.path.join(workdir, f"oneshot-{db.name}.log")
    with open(log, "w") as errfile:
        one = subprocess.Popen([BINARY, "run", "addStatusToStores", "--batch-size", "1", "--metrics-listen", "",
                                "--progress-seconds", "1"], env=env, stdout=subprocess.PIPE, stderr=errfile,
                               text=True)
    try:
        # Its log (a Job's) shows progress at the cadence while it runs.
        line = wait_until(lambda: next((l for l in open(log) if '"migration progress"' in l), None), 60,
                          what="a progress line in the one-shot's log")
        progress = json.loads(line)
        assert progress["total"] == 300 and 0 < progress["processed"] < 300, progress
        one.send_signal(signal.SIGTERM)
        out, _ = one.communicate(timeout=60)
    finally:
        if one.poll() is None:
            one.kill()
    err = open(log).read()
    assert one.returncode == 75, out + err
    assert "interrupted: service shutting down" in err, err
    saved = db["_migrations"].find_one({"_id": "addStatusToStores"})
    assert saved["state"] == "INTERRUPTED" and saved.get("cursor") is not None, saved
    assert db.stores.count_documents({"status": {"$exists": False}}) > 0, "stopped mid-run"

    svc = start_service("--metrics-refresh-seconds", "1", database=db.name)
    st = status_of(svc, "addStatusToStores")
    assert st["state"] == "MIGRATION_STATE_INTERRUPTED" and "shutting down" in st["error"], st
    m = wait_until(lambda: (m := svc.metrics()) and state_gauge(m, "addStatusToStores", "INTERRUPTED") == 1 and m,
                   30, what="the metrics to read the stored state")
    assert state_gauge(m, "addStatusToStores", "FAILED") == 0, "an interruption is not a failure"
    watch = ctl("--addr", svc.address, "status", "--watch", "addStatusToStores")
    assert watch.returncode == 75, watch.stdout + watch.stderr
    assert "INTERRUPTED" in watch.stdout
    record = call(svc.address, "History", {"name": "addStatusToStores"})["runs"][0]
    assert record["state"] == "MIGRATION_STATE_INTERRUPTED" and record["caller"]["identity"] == "one-shot", record
    # Resumable: a Run takes it up from the cursor.
    resumed = call(svc.address, "Run", {"names": ["addStatusToStores"], "batchSize": 100})["migrations"][0]
    assert resumed["state"] == "MIGRATION_STATE_SUCCEEDED" and int(resumed["total"]) < 300, resumed


def test_a_summary_after_a_cancel_reports_the_stored_state_of_every_migration(db, slow_db, start_service):
    db.stores.insert_many(stores(20))
    db.customers.insert_many(customers(5))
    fast = start_service(database=db.name)
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in call(fast.address, "Run", {})["migrations"])
    # Drift for all four: the Run claims them all to sweep them again. One customer: where the
    # server has no partial indexes (mongo-java) by_username is plain and holds one null only.
    db.stores.insert_many(stores(150))
    db.customers.insert_many(customers(1))
    svc = start_service(database=db.name, mongodb_uri=slow_db.uri)
    answer = {}
    runner = threading.Thread(target=lambda: answer.update(call(svc.address, "Run", {"batchSize": 1}, timeout=300)))
    runner.start()
    try:
        wait_until(lambda: int(status_of(svc, "addStatusToStores").get("processed", "0")) > 0 and
                   status_of(svc, "addStatusToStores")["state"] == "MIGRATION_STATE_RUNNING", 60,
                   what="addStatusToStores sweeping")
        call(svc.address, "Cancel", {"name": "addStatusToStores"})
    finally:
        runner.join(300)
    states = [m["state"] for m in answer["migrations"]]
    # Not "PENDING, not run yet": the ones the chain never reached are as stored, SUCCEEDED.
    assert states == ["MIGRATION_STATE_CANCELED"] + ["MIGRATION_STATE_SUCCEEDED"] * 3, answer
    stored = {m["name"]: m["state"] for m in call(svc.address, "Status")["migrations"]}
    assert [stored[m["name"]] for m in answer["migrations"]] == states
    counted = call(fast.address, "Status", {"includePending": True})["migrations"]
    assert all(m.get("drifted") for m in counted[1:]), counted


def test_a_stalled_run_answers_cancel_with_canceling_until_its_batch_ends(db, start_service):
    """A fake owner (whose lease the test holds) has the migration RUNNING: it never reaches a batch
    boundary, so the state stays CANCELING for as long as the test looks."""
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    name = "addPrivacyToCustomers"
    db.customers.insert_many(customers(5))
    db["_migrations"].insert_one({"_id": name, "state": "RUNNING", "runId": "fake-run", "owner": "fake-owner",
                                  "leaseGen": 1, "processed": 0, "updated": 0, "total": 5})
    db["_migrations_leases"].insert_one({"_id": f"{name}#1", "name": name, "gen": 1, "kind": "lease",
                                         "owner": "fake-owner", "runId": "fake-run", "expiresAt": far})
    svc = start_service(database=db.name)
    answer = call(svc.address, "Cancel", {"name": name})["migration"]
    assert answer["state"] == "MIGRATION_STATE_CANCELING", answer
    assert status_of(svc, name)["state"] == "MIGRATION_STATE_CANCELING"
    p = ctl("--addr", svc.address, "status", name)
    assert re.search(rf"{name} +CANCELING", p.stdout), p.stdout
    # The owner ends it at its batch boundary.
    db["_migrations"].update_one({"_id": name}, {"$set": {"state": "CANCELED", "finishedAt": datetime.datetime.now(
        datetime.timezone.utc)}, "$unset": {"cancelRequested": ""}})
    db["_migrations_leases"].delete_many({"name": name})
    assert status_of(svc, name)["state"] == "MIGRATION_STATE_CANCELED"


# --- progress ---

def test_a_job_log_shows_progress_lines_at_the_cadence(db, slow_db, start_service):
    db.stores.insert_many(stores(150))
    svc = start_service("--progress-seconds", "1", database=db.name, mongodb_uri=slow_db.uri)
    p = ctl("--addr", svc.address, "--progress-seconds", "1", "run", "addStatusToStores", "--batch-size", "1",
            timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    progress = [line for line in p.stdout.splitlines()
                if re.search(r" addStatusToStores +RUNNING +\d+/150 +\d+%  updated \d+ ", line)]
    finished = [line for line in p.stdout.splitlines() if re.search(r"addStatusToStores +SUCCEEDED", line)]
    assert progress and finished, p.stdout
    counts = [int(re.search(r"(\d+)/150", line).group(1)) for line in progress]
    assert counts == sorted(counts), p.stdout
    logged = [e for e in svc.log_entries() if e["msg"] == "migration progress"]
    assert logged, svc.logs()
    for e in logged:
        assert e["migration"] == "addStatusToStores" and e["total"] == 150 and 0 <= e["processed"] <= 150, e
        assert "docs_per_s" in e and "eta_s" in e, e


# --- dry runs ---

def test_a_dry_run_goes_on_past_a_failing_migration_and_logs_each_end(db, start_service):
    db.customers.insert_many([{"_id": f"c{i:02d}", "name": "A", "username": "dup"} for i in range(12)] +
                             customers(3))
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"names": ["addUsernamesToCustomers", "addPrivacyToCustomers"],
                                     "dryRun": True})
    users, privacy = resp["migrations"]
    # The value, how many hold it, and the first ten _ids: enough to find and fix them.
    ids = ", ".join(f'"c{i:02d}"' for i in range(10))
    assert users["state"] == "MIGRATION_STATE_FAILED", users
    assert f'"dup" is held by 12 customers (_id {ids} and 2 more)' in users["error"], users["error"]
    assert privacy["state"] == "MIGRATION_STATE_SUCCEEDED" and privacy["dryRun"], privacy
    assert privacy["updated"] == "15", privacy
    assert db["_migrations"].count_documents({}) == 0 and db.customers.count_documents({"isPrivate": True}) == 0
    real = call(svc.address, "Run", {"names": ["addUsernamesToCustomers"]})["migrations"][0]
    assert real["state"] == "MIGRATION_STATE_FAILED" and f"(_id {ids} and 2 more)" in real["error"], real
    ended = {e["migration"]: e for e in svc.log_entries() if e["msg"] == "dry run ended"}
    assert ended["addUsernamesToCustomers"]["level"] == "warn" and "dup" in ended["addUsernamesToCustomers"]["error"]
    assert ended["addPrivacyToCustomers"]["would_update"] == 15, ended
    p = ctl("--addr", svc.address, "run", "--dry-run", "addUsernamesToCustomers", "addPrivacyToCustomers")
    assert p.returncode == 65, p.stdout + p.stderr


# --- docs ---

def test_the_readme_example_data_gives_the_first_run_work_to_do(db, ferret, start_service):
    script = os.path.join(SOURCE, "deploy", "local", "load-example.py")
    p = subprocess.run([sys.executable, script, ferret.uri, db.name, "--stores", "200", "--customers", "300"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    svc = start_service(database=db.name)
    pending = {m["name"]: int(m.get("pending", "0"))
               for m in call(svc.address, "Status", {"includePending": True})["migrations"]}
    assert all(n > 0 for n in pending.values()), pending
    assert pending["addStatusToStores"] == db.stores.count_documents({"status": {"$exists": False}})
    plan = call(svc.address, "Run", {"dryRun": True})["migrations"]
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" and int(m["updated"]) > 0 for m in plan), plan


# --- metrics ---

def test_two_replicas_export_the_same_state_whoever_wrote_it(db, ferret, start_service):
    db.stores.insert_many(stores(30))
    db.customers.insert_many([{"_id": ObjectId(), "name": "A", "username": "dup"} for _ in range(2)] + customers(3))
    a = start_service("--metrics-refresh-seconds", "1", database=db.name)
    b = start_service("--metrics-refresh-seconds", "1", database=db.name)
    # A one-shot run, neither replica, leaves the username migration FAILED.
    env = {**env_without_twigz(), "MONGODB_URI": ferret.uri, "MONGODB_DATABASE": db.name}
    one = subprocess.run([BINARY, "run", "addUsernamesToCustomers", "--metrics-listen", ""], env=env,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 65, one.stdout + one.stderr
    call(a.address, "Run", {"names": ["addStatusToStores"]})

    def settled(svc):
        m = svc.metrics()
        return (state_gauge(m, "addUsernamesToCustomers", "FAILED") == 1 and
                state_gauge(m, "addStatusToStores", "SUCCEEDED") == 1 and m)
    ma = wait_until(lambda: settled(a), 30, what="replica a to read the state collection")
    mb = wait_until(lambda: settled(b), 30, what="replica b to read the state collection")
    for name in ("addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"):
        for state in ("PENDING", "QUEUED", "RUNNING", "CANCELING", "SUCCEEDED", "FAILED", "CANCELED",
                      "INTERRUPTED"):
            assert state_gauge(ma, name, state) == state_gauge(mb, name, state), (name, state)
        assert run_gauges(ma, name) == run_gauges(mb, name), name
    assert run_gauges(mb, "addStatusToStores") == {"migration_run_documents": 30,
                                                   "migration_run_documents_processed": 30,
                                                   "migration_run_documents_pending": 0}
    assert run_gauges(mb, "ensureStoreFields")["migration_run_documents"] is None, "never run: nothing known"
    # Work done is per instance: only a ran it.
    processed = ("migration_documents_processed_total", (("migration", "addStatusToStores"),))
    assert ma[processed] == 30 and mb[processed] == 0


def test_metrics_cover_the_process_the_database_leases_and_batches(db, slow_db, start_service):
    db.customers.insert_many(customers(40))
    svc = start_service("--lease-seconds", "3", database=db.name, mongodb_uri=slow_db.uri)
    resp = call(svc.address, "Run", {"names": ["addPrivacyToCustomers"], "batchSize": 1}, timeout=300)
    assert resp["migrations"][0]["state"] == "MIGRATION_STATE_SUCCEEDED", resp
    m = wait_until(lambda: (m := svc.metrics()).get(("mongodb_up", ())) == 1 and m, 30, what="a ping")
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
                 "process_start_time_seconds", "process_max_fds"):
        assert m[(name, ())] > 0, name
    build = [k for k in m if k[0] == "twigz_migrations_build_info"]
    assert len(build) == 1 and dict(build[0][1])["version"] and dict(build[0][1])["mongoc_version"], build
    batches = m[("migration_batch_duration_seconds_count", (("migration", "addPrivacyToCustomers"),))]
    assert batches == 40
    assert ("migration_batch_duration_seconds_bucket", (("le", "+Inf"), ("migration", "addPrivacyToCustomers"))) in m
    renewals = {r: m[("migration_lease_renewals_total", (("result", r),))] for r in ("renewed", "failed", "lost")}
    assert renewals["lost"] == 0 and renewals["failed"] == 0, renewals
    run_buckets = {dict(k[1])["le"] for k in m if k[0] == "grpc_server_handling_seconds_bucket"
                   and dict(k[1])["grpc_method"] == "Run"}
    assert {"3600", "28800"} <= run_buckets, sorted(run_buckets)


# --- history ---

def test_history_names_the_caller_of_a_run_made_with_a_token_and_with_mtls(db, workdir, start_service):
    db.stores.insert_many(stores(5))
    token_file = os.path.join(workdir, "history-token")
    with open(token_file, "w") as f:
        f.write("s3cret-history-token\n")
    d = os.path.join(workdir, "history-certs")
    os.makedirs(d, exist_ok=True)
    c = make_certificates(d)
    with_token = start_service("--auth-token-file", token_file, "--auth-token-name", "ci-deployer",
                               database=db.name)
    mtls = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"],
                         "--tls-client-ca", c["ca.pem"], database=db.name)
    p = ctl("--addr", with_token.address, "--token-file", token_file, "run", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr
    tls = ["--addr", mtls.address, "--tls-ca", c["ca.pem"], "--tls-cert", c["client.pem"], "--tls-key", c["client.key"]]
    p = ctl(*tls, "run", "--rerun", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr

    p = ctl(*tls, "--json", "history", "addStatusToStores")
    assert p.returncode == 0, p.stderr
    runs = json.loads(p.stdout.splitlines()[0])["runs"]
    assert [r["caller"]["identity"] for r in runs] == ["x509:CN=client", "token:ci-deployer"], runs
    assert all(r["caller"]["userAgent"].startswith("migratectl/") for r in runs), runs
    assert runs[0]["rerun"] is True and runs[0]["migrations"] == ["addStatusToStores"], runs[0]
    assert runs[1]["state"] == "MIGRATION_STATE_SUCCEEDED" and runs[1]["updated"] == "5", runs[1]
    assert runs[0]["finishedAt"] >= runs[0]["startedAt"] > runs[1]["startedAt"]
    table = ctl(*tls, "history")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["STARTED", "MIGRATION", "STATE"], table.stdout
    assert "x509:CN=client" in lines[1] and runs[0]["runId"] in lines[1], table.stdout
    assert "token:ci-deployer" in lines[2], table.stdout
    # The token never reaches the history or the logs.
    assert "s3cret" not in json.dumps(list(db["_migrations_history"].find({}, {"_id": 0}))[0], default=str)
    assert "s3cret" not in with_token.logs()
    rpc = [e for e in with_token.log_entries() if e["msg"] == "rpc" and e["method"].endswith("/Run")]
    assert rpc and rpc[0]["peer"].startswith("ipv4:127.0.0.1:") and rpc[0]["user_agent"].startswith("migratectl/")
    assert rpc[0]["run_id"] == runs[1]["runId"], rpc


def test_history_is_paged_newest_first_and_keeps_the_last_n(db, start_service):
    db.stores.insert_many(stores(3))
    svc = start_service("--history-keep", "3", database=db.name)
    ids = [call(svc.address, "Run", {"names": ["addStatusToStores"], "rerun": True})["runId"] for _ in range(5)]
    call(svc.address, "Run", {"names": ["addPrivacyToCustomers"]})
    page = call(svc.address, "History", {"name": "addStatusToStores", "pageSize": 2})
    assert [r["runId"] for r in page["runs"]] == ids[:1:-1][:2], (page, ids)
    rest = call(svc.address, "History", {"name": "addStatusToStores", "pageToken": page["nextPageToken"]})
    assert [r["runId"] for r in rest["runs"]] == [ids[2]] and not rest.get("nextPageToken"), rest
    assert db["_migrations_history"].count_documents({"migration": "addStatusToStores"}) == 3
    everything = call(svc.address, "History", {})["runs"]
    assert {r["migration"] for r in everything} == {"addStatusToStores", "addPrivacyToCustomers"}
    p = ctl("--addr", svc.address, "history", "--limit", "2", "addStatusToStores")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 3, p.stdout

    for bad, says in (({"name": "nope"}, "unknown migration"), ({"pageSize": 5000}, "page_size"),
                      ({"pageToken": "garbage"}, "page_token")):
        rc, _, err = grpcurl(svc.address, "twigz.migrations.v1.MigrationService/History", bad)
        assert rc != 0 and "InvalidArgument" in err and says in err, (bad, err)
    p = ctl("--addr", svc.address, "history", "nope")
    assert p.returncode == 64, p.stderr
