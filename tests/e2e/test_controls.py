"""Controls for a live database, end to end: a rate limit, throttling on a slow server, Pause and
Resume across replicas, live retuning, and an error budget for documents the server refuses. Real
binary, real server (both test servers), grpcurl and migratectl.

Runs are held in flight by the test's own means: a rate limit makes a run last at least its
documents divided by its rate, and a proxy that delays replies makes every batch slow; times are
asserted only as lower bounds."""
import json
import time

from bson import ObjectId

from harness import HELD, Proxy, call, ctl, grpcurl, wait_until

STATES_HELD = set(HELD) | {"MIGRATION_STATE_THROTTLED", "MIGRATION_STATE_PAUSING"}


def status_of(svc, name, **extra):
    return call(svc.address, "Status", {"names": [name], **extra})["migrations"][0]


def stores(n, **fields):
    return [{"_id": ObjectId(), "name": f"store {i}", **fields} for i in range(n)]


def customers(n):
    return [{"_id": ObjectId(), "name": f"Customer {i}"} for i in range(n)]


def settled(svc, name, timeout=120):
    return wait_until(lambda: (s := status_of(svc, name))["state"] not in STATES_HELD and s, timeout,
                      what=f"{name} to settle")


# --- rate limit ---

def test_a_run_at_50_documents_per_second_takes_at_least_its_documents_over_its_rate(db, start_service):
    db.stores.insert_many(stores(150))
    svc = start_service(database=db.name)
    started = time.monotonic()
    run = call(svc.address, "Run", {"names": ["addStatusToStores"], "maxDocumentsPerSecond": 50})
    elapsed = time.monotonic() - started
    m = run["migrations"][0]
    assert m["state"] == "MIGRATION_STATE_SUCCEEDED" and m["updated"] == "150", m
    # The bucket starts empty: the last 50 wait until 3 s of tokens have accrued.
    assert elapsed >= 2.95, f"150 documents at 50/s in {elapsed:.2f} s"
    assert m["controls"]["maxDocumentsPerSecond"] == 50, m
    assert db.stores.count_documents({"status": "pending"}) == 150
    record = call(svc.address, "History", {"name": "addStatusToStores"})["runs"][0]
    assert record["controls"]["maxDocumentsPerSecond"] == 50, record


def test_the_service_default_rate_applies_where_a_run_sets_none_and_0_lifts_it(db, start_service):
    db.stores.insert_many(stores(30))
    svc = start_service("--max-documents-per-second", "1000", database=db.name)
    first = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert first["controls"]["maxDocumentsPerSecond"] == 1000, first
    db.stores.insert_many(stores(5))
    second = call(svc.address, "Run", {"names": ["addStatusToStores"], "maxDocumentsPerSecond": 0})["migrations"][0]
    assert "maxDocumentsPerSecond" not in second["controls"], second
    bad = ctl("--addr", svc.address, "run", "addStatusToStores", "--rate", "-3")
    assert bad.returncode == 64, bad.stdout + bad.stderr


# --- throttling ---

def test_a_slow_server_throttles_the_run_and_status_says_why(db, ferret, start_service):
    db.stores.insert_many(stores(120))
    proxy = Proxy(ferret.port)
    try:
        svc = start_service(database=db.name, mongodb_uri=proxy.uri)
        call(svc.address, "Run", {"names": ["addStatusToStores"], "async": True, "batchSize": 20,
                                  "maxDocumentsPerSecond": 20, "maxWriteLatencyMs": 150})
        wait_until(lambda: int(status_of(svc, "addStatusToStores").get("processed", "0")) >= 20, 60,
                   what="the run to write its first batches")
        proxy.delay = 0.25  # every reply now late: each batch write takes over 150 ms
        throttled = wait_until(lambda: (s := status_of(svc, "addStatusToStores"))["state"]
                               == "MIGRATION_STATE_THROTTLED" and s, 120, what="the run to be throttled")
        assert "over max_write_latency_ms 150" in throttled["throttleReason"], throttled
        assert throttled.get("throttledSince"), throttled
        assert int(throttled["processed"]) < 120, "throttled mid-run"
        assert throttled["controls"]["currentBatchSize"] < throttled["controls"]["batchSize"], throttled
        proxy.delay = 0
        done = settled(svc, "addStatusToStores")
        assert done["state"] == "MIGRATION_STATE_SUCCEEDED" and not done.get("throttleReason"), done
        assert db.stores.count_documents({"status": {"$exists": False}}) == 0
        msgs = [e["msg"] for e in svc.log_entries()]
        assert "migration throttled: waiting for the database" in msgs and "throttle lifted" in msgs, msgs
    finally:
        proxy.close()


# --- Pause and Resume ---

def test_pause_then_resume_on_another_replica_ends_as_an_uninterrupted_run(db, start_service):
    seed_stores, seed_customers = stores(200), customers(20)
    db.stores.insert_many(seed_stores)
    db.customers.insert_many(seed_customers)
    a = start_service(database=db.name)
    b = start_service(database=db.name)
    names = ["addStatusToStores", "addPrivacyToCustomers"]
    run = call(a.address, "Run", {"names": names, "async": True, "batchSize": 10, "maxDocumentsPerSecond": 40})
    wait_until(lambda: int(status_of(b, "addStatusToStores").get("processed", "0")) >= 10, 60,
               what="the run to make progress")
    p = ctl("--addr", b.address, "pause", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr
    paused = settled(b, "addStatusToStores")
    assert paused["state"] == "MIGRATION_STATE_PAUSED" and not paused.get("error"), paused
    assert 0 < int(paused["processed"]) < 200, "paused mid-run"
    assert paused["runId"] == run["runId"]
    behind = status_of(b, "addPrivacyToCustomers")
    assert behind["state"] == "MIGRATION_STATE_QUEUED" and behind["runId"] == run["runId"], behind
    assert db.customers.count_documents({"isPrivate": {"$exists": True}}) == 0, "the rest of the run waits"
    leases = list(db["_migrations_leases"].find({"name": "addStatusToStores", "kind": "lease"}))
    assert leases and all(l.get("releasedAt") for l in leases), "the lease is released"

    # A Run reaching a paused migration stops there, and says so; migratectl exits 75.
    again = call(b.address, "Run", {"names": names})["migrations"]
    assert [m["state"] for m in again][0] == "MIGRATION_STATE_PAUSED", again
    blocked = ctl("--addr", b.address, "run", "addStatusToStores")
    assert blocked.returncode == 75, blocked.stdout + blocked.stderr

    a.stop()  # the replica that paused it is gone: another takes it up
    r = ctl("--addr", b.address, "resume", "addStatusToStores")
    assert r.returncode == 0, r.stdout + r.stderr
    assert run["runId"] in r.stdout, r.stdout
    for name in names:
        assert settled(b, name)["state"] == "MIGRATION_STATE_SUCCEEDED"
    assert sorted(db.stores.find(), key=lambda d: d["_id"]) == sorted(
        ({**d, "status": "pending"} for d in seed_stores), key=lambda d: d["_id"])
    assert sorted(db.customers.find(), key=lambda d: d["_id"]) == sorted(
        ({**d, "isPrivate": True} for d in seed_customers), key=lambda d: d["_id"])
    record = call(b.address, "History", {"name": "addStatusToStores"})["runs"][0]
    assert record["runId"] == run["runId"] and record["state"] == "MIGRATION_STATE_SUCCEEDED", record
    assert [e["action"] for e in record["events"]] == ["pause", "resume"], record
    assert all("migratectl" in e["by"]["userAgent"] for e in record["events"]), record


def test_pause_and_resume_refuse_a_migration_in_the_wrong_state(db, start_service):
    svc = start_service(database=db.name)
    p = ctl("--addr", svc.address, "pause", "addStatusToStores")
    assert p.returncode != 0 and "not running" in p.stderr, p.stdout + p.stderr
    r = ctl("--addr", svc.address, "resume", "addStatusToStores")
    assert r.returncode != 0 and "not paused" in r.stderr, r.stdout + r.stderr


# --- live retuning ---

def test_a_batch_size_change_applies_from_the_next_batch(db, start_service):
    db.stores.insert_many(stores(300))
    svc = start_service("--log-level", "debug", database=db.name)
    call(svc.address, "Run", {"names": ["addStatusToStores"], "async": True, "batchSize": 10,
                              "maxDocumentsPerSecond": 60})
    wait_until(lambda: int(status_of(svc, "addStatusToStores").get("processed", "0")) >= 20, 60,
               what="a few batches of 10")
    t = ctl("--addr", svc.address, "tune", "addStatusToStores", "--batch-size", "30")
    assert t.returncode == 0, t.stdout + t.stderr
    assert "batch_size 10 -> 30" in t.stdout, t.stdout
    done = settled(svc, "addStatusToStores")
    assert done["state"] == "MIGRATION_STATE_SUCCEEDED" and done["controls"]["batchSize"] == 30, done
    entries = svc.log_entries()
    changed = next(i for i, e in enumerate(entries) if e["msg"].startswith("controls changed"))
    before = [e["documents"] for e in entries[:changed] if e["msg"] == "batch done"]
    after = [e["documents"] for e in entries[changed:] if e["msg"] == "batch done"]
    assert before and set(before) == {10}, before
    # The batch read before the change may still be written at the old size; the rest are new.
    assert after[0] in (10, 30) and after[1:-1] and set(after[1:-1]) == {30}, after
    assert int(done["processed"]) == 300
    record = call(svc.address, "History", {"name": "addStatusToStores"})["runs"][0]
    tune = [e for e in record["events"] if e["action"] == "tune"]
    assert tune and tune[0]["detail"] == "batch_size 10 -> 30", record


def test_tune_names_a_value_out_of_range(db, start_service):
    svc = start_service(database=db.name)
    rc, _, err = grpcurl(svc.address, "twigz.migrations.v1.MigrationService/Tune",
                         {"name": "addStatusToStores", "batchSize": 0})
    assert rc != 0 and "InvalidArgument" in err and "batch_size must be 1..10000, got 0" in err, err
    rc, _, err = grpcurl(svc.address, "twigz.migrations.v1.MigrationService/Tune", {"name": "addStatusToStores"})
    assert rc != 0 and "nothing to change" in err, err


# --- error budget ---

def refusing_stores(db, owners):
    """Stores under a unique {ownerId, status} index: each of `owners` has a pending store already, so
    setting status on its second store is refused for that document alone (11000; FerretDB's
    UNIQUE constraint). Neither test server has collection validators (see store/profile.h)."""
    db.stores.create_index([("ownerId", 1), ("status", 1)], unique=True)
    refused = []
    for o in range(owners):
        db.stores.insert_one({"_id": ObjectId(), "ownerId": f"o{o}", "status": "pending"})
        refused.append(db.stores.insert_one({"_id": ObjectId(), "ownerId": f"o{o}"}).inserted_id)
    fine = [{"_id": ObjectId(), "ownerId": f"solo{i}"} for i in range(20)]
    db.stores.insert_many(fine)
    return refused


def test_refused_documents_are_skipped_under_a_budget_of_5_and_fail_the_run_under_0(db, start_service):
    refused = refusing_stores(db, 3)
    svc = start_service(database=db.name)
    run = call(svc.address, "Run", {"names": ["addStatusToStores"], "maxFailedDocuments": 5, "batchSize": 8})
    m = run["migrations"][0]
    assert m["state"] == "MIGRATION_STATE_SUCCEEDED", m
    assert m["failedDocuments"] == "3", m
    assert sorted(json.loads(f["id"])["$oid"] for f in m["failed"]) == sorted(str(i) for i in refused), m
    assert all("11000" in f["error"] or "UNIQUE" in f["error"] for f in m["failed"]), m
    assert db.stores.count_documents({"status": {"$exists": False}}) == 3
    assert db.stores.count_documents({"ownerId": {"$regex": "^solo"}, "status": "pending"}) == 20
    st = status_of(svc, "addStatusToStores")
    assert st["failedDocuments"] == "3" and len(st["failed"]) == 3, st
    record = call(svc.address, "History", {"name": "addStatusToStores"})["runs"][0]
    assert record["failedDocuments"] == "3" and len(record["failed"]) == 3, record

    # Budget 0, the default: the next Run retries them first and fails at the first refusal.
    failed = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert failed["state"] == "MIGRATION_STATE_FAILED", failed
    assert "refused by the server, over max_failed_documents 0" in failed["error"], failed
    entries = svc.log_entries()
    assert any(e["msg"] == "retrying the documents an earlier run recorded as refused" for e in entries)

    # Once the conflicts are gone, the recorded documents go through.
    db.stores.delete_many({"status": "pending", "ownerId": {"$regex": "^o"}})
    ok = call(svc.address, "Run", {"names": ["addStatusToStores"]})["migrations"][0]
    assert ok["state"] == "MIGRATION_STATE_SUCCEEDED" and ok.get("failedDocuments", "0") == "0", ok
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0
