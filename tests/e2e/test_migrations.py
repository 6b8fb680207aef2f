"""The migrations end to end: the real service over gRPC against FerretDB, results compared document
by document with an independent reference implementation."""
import concurrent.futures
import datetime
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import reference
import seed
from harness import BINARY, DatabaseServer, call, grpcurl, hammer, wait_until

SERVICE = "twigz.migrations.v1.MigrationService"
ALL = ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"]


def index_specs(collection):
    return sorted((i["name"], list(i["key"].items()), bool(i.get("unique")), i.get("partialFilterExpression"))
                  for i in collection.list_indexes())


def expect_database_equals_reference(db, stores, customers):
    """Byte for byte, field order included, and the same indexes: every server must give these."""
    want_stores, want_customers = reference.migrate(stores, customers)
    assert reference.snapshot(db.stores) == reference.normalised(want_stores)
    assert reference.snapshot(db.customers) == reference.normalised(want_customers)
    if stores:
        assert index_specs(db.stores) == [("_id_", [("_id", 1)], False, None)]
    # by_username is partial only where the server applies partial indexes (MongoDB): neither test
    # server does, so both hold the plain unique index.
    assert index_specs(db.customers) == [("_id_", [("_id", 1)], False, None),
                                         ("by_username", [("username", 1)], True, None)]


def by_name(resp):
    return {m["name"]: m for m in resp["migrations"]}


def test_run_backfills_everything_like_the_reference(db, start_service):
    stores, customers = seed.stores(300), seed.customers(400)
    seed.load(db, stores, customers)
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"batchSize": 64})
    assert resp["runId"]
    states = by_name(resp)
    assert list(states) == ALL
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in resp["migrations"]), resp
    expect_database_equals_reference(db, stores, customers)
    usernames = [d["username"] for d in db.customers.find({}, {"username": 1})]
    strings = [u for u in usernames if isinstance(u, str)]
    assert len(strings) == len(set(strings)), "duplicate usernames"
    indexes = {i["name"]: i for i in db.customers.list_indexes()}
    assert indexes["by_username"]["unique"] is True


def test_a_second_run_skips_and_changes_nothing(db, start_service):
    seed.load(db, seed.stores(50), seed.customers(50))
    svc = start_service(database=db.name)
    call(svc.address, "Run")
    before = (reference.snapshot(db.stores), reference.snapshot(db.customers))
    resp = call(svc.address, "Run")
    assert all(m.get("skipped") for m in resp["migrations"]), resp
    assert (reference.snapshot(db.stores), reference.snapshot(db.customers)) == before


def test_rerun_sweeps_documents_written_since(db, start_service):
    seed.load(db, seed.stores(20), [])
    svc = start_service(database=db.name)
    call(svc.address, "Run", {"names": ["addStatusToStores"]})
    db.stores.insert_one({"name": "late"})
    resp = call(svc.address, "Run", {"names": ["addStatusToStores"], "rerun": True})
    m = resp["migrations"][0]
    assert m["state"] == "MIGRATION_STATE_SUCCEEDED" and not m.get("skipped")
    assert m.get("updated") == "1"
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0


def test_dry_run_writes_nothing_and_plans_the_real_usernames(db, ferret, start_service):
    stores, customers = seed.stores(40), seed.customers(60)
    seed.load(db, stores, customers)
    before = {c: reference.snapshot(db[c]) for c in ("stores", "customers")}
    collections = sorted(db.list_collection_names())
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"dryRun": True})
    assert sorted(db.list_collection_names()) == collections
    assert {c: reference.snapshot(db[c]) for c in ("stores", "customers")} == before
    assert [i["name"] for i in db.customers.list_indexes()] == ["_id_"]
    users = by_name(resp)["addUsernamesToCustomers"]
    assert users["dryRun"] is True
    assert 0 < len(users["samples"]) <= 10
    _, want = reference.migrate(stores, customers)
    want_by_id = {str(d["_id"]): d["username"] for d in want}
    for sample in users["samples"]:
        s = json.loads(sample)
        oid = s["_id"]["$oid"] if isinstance(s["_id"], dict) else s["_id"]
        assert s["username"] == want_by_id[oid], sample
    status = call(svc.address, "Status")
    assert all(m["state"] == "MIGRATION_STATE_PENDING" for m in status["migrations"]), status


def test_status_reports_pending_counts_live(db, start_service):
    seed.load(db, seed.stores(30), seed.customers(30))
    svc = start_service(database=db.name)
    status = by_name(call(svc.address, "Status", {"includePending": True}))
    missing_status = db.stores.count_documents({"status": {"$exists": False}})
    assert status["addStatusToStores"]["state"] == "MIGRATION_STATE_PENDING"
    assert int(status["addStatusToStores"].get("pending", "0")) == missing_status
    call(svc.address, "Run", {"names": ["addStatusToStores"]})
    status = by_name(call(svc.address, "Status", {"names": ["addStatusToStores"], "includePending": True}))
    assert list(status) == ["addStatusToStores"]
    m = status["addStatusToStores"]
    assert m["state"] == "MIGRATION_STATE_SUCCEEDED" and "pending" not in m
    assert m["startedAt"] and m["finishedAt"] and m["cursor"]


@pytest.mark.parametrize("request_body, needle", [
    ({"names": ["nope"]}, "nope"),
    ({"names": ["addStatusToStores", "addStatusToStores"]}, "addStatusToStores"),
    ({"batchSize": 10001}, "batch_size"),
    ({"batchSize": -1}, "batch_size"),
])
def test_bad_run_requests_are_invalid_argument(db, start_service, request_body, needle):
    svc = start_service(database=db.name)
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/Run", request_body)
    assert rc == 64 + 3, err
    assert needle in err
    if "names" in request_body and request_body["names"] == ["nope"]:
        assert all(name in err for name in ALL), "the valid names are listed"


def test_cancel_of_a_migration_not_running_is_failed_precondition(db, start_service):
    svc = start_service(database=db.name)
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/Cancel", {"name": "addStatusToStores"})
    assert rc == 64 + 9, err


def test_batch_sizes_one_and_ten_thousand_give_the_same_result(ferret, start_service):
    client = ferret.client()
    results = []
    stores, customers = seed.stores(60), seed.customers(80)
    for size in (1, 10000):
        db = client[f"e2e_batch_{size}"]
        client.drop_database(db.name)
        seed.load(db, stores, customers)
        svc = start_service(database=db.name)
        resp = call(svc.address, "Run", {"batchSize": size})
        assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in resp["migrations"]), resp
        expect_database_equals_reference(db, stores, customers)
        results.append(reference.snapshot(db.customers))
    assert results[0] == results[1]


def test_bases_whose_candidates_overlap_get_what_one_at_a_time_gives(db, start_service):
    """"john" + "11" is "john1" + "1": a name one base's customer takes (or finds taken) moves what a
    later customer of the other base gets. Customers alternate between the two bases within one
    batch, with "john" and "john2" already held, so every base's first choice but one is taken."""
    from bson import ObjectId
    customers = [{"_id": ObjectId(), "name": "Held", "username": u} for u in ("john", "john2")]
    customers += [{"_id": ObjectId(), "name": name} for name in ["John", "john1"] * 6]
    seed.load(db, [], customers)
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"batchSize": 100})
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in resp["migrations"]), resp
    got = [d["username"] for d in db.customers.find({"name": {"$ne": "Held"}}).sort("_id", 1)]
    # one customer at a time, in _id order (reference.py gives the same)
    assert got == ["john1", "john11", "john3", "john12", "john4", "john13",
                   "john5", "john14", "john6", "john15", "john7", "john16"]
    expect_database_equals_reference(db, [], customers)


def test_existing_duplicate_usernames_fail_the_migration_and_write_nothing(db, start_service):
    customers = [{"_id": i, "name": "A", "username": "dup" if i < 2 else ""} for i in range(4)]
    seed.load(db, [], customers)
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"names": ["addUsernamesToCustomers", "addPrivacyToCustomers"]})
    users, privacy = resp["migrations"]
    assert users["state"] == "MIGRATION_STATE_FAILED" and "dup" in users["error"]
    assert privacy["state"] == "MIGRATION_STATE_PENDING"  # the chain stops at the first failure
    assert [d.get("username") for d in db.customers.find().sort("_id", 1)] == ["dup", "dup", "", ""]


def test_async_answers_at_once_and_status_follows(db, start_service):
    seed.load(db, seed.stores(200), [])
    svc = start_service(database=db.name)
    resp = call(svc.address, "Run", {"names": ["addStatusToStores"], "async": True, "batchSize": 10})
    assert resp["migrations"][0]["state"] == "MIGRATION_STATE_QUEUED", resp
    wait_until(lambda: call(svc.address, "Status", {"names": ["addStatusToStores"]})["migrations"][0]["state"]
               == "MIGRATION_STATE_SUCCEEDED", 60, what="SUCCEEDED")
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0


def big_customers(n):
    return [{"_id": i, "name": ["John", "Mary", "Li"][i % 3] if i % 4 else f"user {i % 97}", "k": i}
            for i in range(n)]


def test_two_services_run_at_once_one_holder_no_duplicates(db, start_service):
    customers = big_customers(600)
    stores = seed.stores(300)
    seed.load(db, stores, customers)
    a = start_service(database=db.name)
    b = start_service(database=db.name)
    procs = [subprocess.Popen([os.path.join(os.environ.get("TM_TOOLS_BIN", ""), "grpcurl"), "-plaintext",
                               "-max-time", "300", "-d", json.dumps({"batchSize": 100}), svc.address,
                               f"{SERVICE}/Run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for svc in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in json.loads(out)["migrations"]), out
    expect_database_equals_reference(db, stores, customers)
    runs = [json.loads(out)["runId"] for out, _ in outs]
    assert len(set(runs)) == 2


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_result(db, start_service):
    customers = big_customers(1500)
    seed.load(db, [], customers)
    svc = start_service("--lease-seconds", "5", database=db.name)
    call(svc.address, "Run", {"names": ["addUsernamesToCustomers"], "async": True, "batchSize": 20})
    wait_until(lambda: db.customers.count_documents({"username": {"$exists": True}}) > 40, 120,
               interval=0.02, what="progress")
    svc.stop(signal.SIGKILL)
    restarted = start_service("--lease-seconds", "5", database=db.name)
    resp = call(restarted.address, "Run", {"names": ["addUsernamesToCustomers"], "batchSize": 100}, timeout=600)
    assert resp["migrations"][0]["state"] == "MIGRATION_STATE_SUCCEEDED", resp
    _, want = reference.migrate([], customers)
    for doc in want:
        del doc["isPrivate"]  # only the username migration ran
    assert reference.snapshot(db.customers) == reference.normalised(want)


def test_a_hundred_cancels_against_a_running_migration_are_all_recorded(db, start_service):
    """Cancel is a control write that must land while the database is busy: 100 Cancels, 8 at a
    time, while another migration writes flat out, are each answered OK and recorded, none
    INTERNAL or UNAVAILABLE. Another replica (a fake owner, whose lease the test holds) runs the
    canceled migration, so it stays RUNNING through all of them."""
    # String _ids: FerretDB looks those up by index (ints it scans for).
    seed.load(db, [], [{"_id": f"c{i:05d}", "name": f"c{i % 40}"} for i in range(3000)])
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    name = "addUsernamesToCustomers"
    db["_migrations"].insert_one({"_id": name, "state": "RUNNING", "runId": "fake-run",
                                  "owner": "fake-owner", "leaseGen": 1, "leaseExpiresAt": far,
                                  "processed": 0, "updated": 0, "total": 3000})
    db["_migrations_leases"].insert_one({"_id": f"{name}#1", "name": name, "gen": 1, "kind": "lease",
                                         "owner": "fake-owner", "runId": "fake-run", "expiresAt": far})
    svc = start_service("--threads", "4")
    call(svc.address, "Run", {"names": ["addPrivacyToCustomers"], "async": True, "batchSize": 20})

    def cancel(_):
        return grpcurl(svc.address, f"{SERVICE}/Cancel", {"name": name}, timeout=120)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(cancel, range(100)))
    failures = [(rc, err) for rc, out, err in results if rc != 0]
    assert not failures, failures[:3]
    for _, out, _ in results:
        assert json.loads(out)["migration"]["state"] == "MIGRATION_STATE_CANCELING"
    assert db["_migrations"].find_one({"_id": name})["cancelRequested"] is True
    assert db["_migrations_leases"].count_documents({"name": name, "kind": "cancel", "gen": 1}) == 1
    assert svc.logs().count('"cancel requested"') == 100
    wait_until(lambda: call(svc.address, "Status", {"names": ["addPrivacyToCustomers"]})["migrations"][0]
               ["state"] == "MIGRATION_STATE_SUCCEEDED", 300, what="the other migration to finish")


def test_cancel_then_resume(db, start_service):
    customers = big_customers(1500)
    seed.load(db, [], customers)
    svc = start_service(database=db.name)
    call(svc.address, "Run", {"names": ["addPrivacyToCustomers"], "async": True, "batchSize": 10})
    wait_until(lambda: db.customers.count_documents({"isPrivate": True}) > 0, 60, interval=0.02, what="progress")
    resp = call(svc.address, "Cancel", {"name": "addPrivacyToCustomers"})
    assert resp["migration"]["name"] == "addPrivacyToCustomers"
    wait_until(lambda: call(svc.address, "Status", {"names": ["addPrivacyToCustomers"]})["migrations"][0]["state"]
               == "MIGRATION_STATE_CANCELED", 60, what="CANCELED")
    status = call(svc.address, "Status", {"names": ["addPrivacyToCustomers"]})["migrations"][0]
    assert status["cursor"]
    assert db.customers.count_documents({"isPrivate": {"$exists": False}}) > 0
    resp = call(svc.address, "Run", {"names": ["addPrivacyToCustomers"]}, timeout=600)
    assert resp["migrations"][0]["state"] == "MIGRATION_STATE_SUCCEEDED"
    assert db.customers.count_documents({"isPrivate": {"$exists": False}}) == 0


def test_database_unreachable_at_the_start_is_unavailable(workdir, start_service):
    db = DatabaseServer(os.path.join(workdir, "gone")).start()
    svc = start_service(mongodb_uri=db.uri)
    db.stop()
    rc, _, err = grpcurl(svc.address, f"{SERVICE}/Run", {}, timeout=120)
    assert rc == 64 + 14, err  # UNAVAILABLE


def test_one_shot_mode_runs_and_exits_with_the_right_codes(db, ferret):
    stores, customers = seed.stores(50), seed.customers(50)
    seed.load(db, stores, customers)
    env = {**os.environ, "MONGODB_URI": ferret.uri, "MONGODB_DATABASE": db.name}
    p = subprocess.run([BINARY, "run", "--metrics-listen", ""], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "addUsernamesToCustomers: SUCCEEDED" in p.stdout
    expect_database_equals_reference(db, stores, customers)
    p = subprocess.run([BINARY, "run", "noSuchMigration"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 64, p.stderr
    twins = db.client[db.name + "_twins"]
    db.client.drop_database(twins.name)
    seed.load(twins, [], [{"name": "A", "username": "twin"}, {"name": "B", "username": "twin"}, {"name": "C"}])
    p = subprocess.run([BINARY, "run", "addUsernamesToCustomers"], env={**env, "MONGODB_DATABASE": twins.name},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 65, (p.stdout, p.stderr)
    assert "FAILED" in p.stdout and "twin" in p.stdout
    p = subprocess.run([BINARY, "run"], env={**env, "MONGODB_URI": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500"},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 75, p.stderr


def test_status_under_many_callers_is_never_older_than_the_call(db, start_service):
    """Status callers share database reads; each must still see every change made before it called,
    here a Run accepted by another replica a moment earlier, while 24 clients poll the same replica."""
    seed.load(db, seed.stores(400), [])
    a = start_service(database=db.name)
    b = start_service(database=db.name)
    stop = threading.Event()
    codes = {}
    lock = threading.Lock()

    def poll(_):
        hammer(b.address, f"/{SERVICE}/Status", lambda: not stop.is_set(), codes, lock)

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        polls = [pool.submit(poll, i) for i in range(24)]
        for k in range(5):
            run = call(a.address, "Run", {"names": ["addStatusToStores"], "async": True, "rerun": True,
                                          "batchSize": 50})
            seen = by_name(call(b.address, "Status"))["addStatusToStores"]
            assert seen["runId"] == run["runId"], (k, seen, run["runId"])
            assert seen["state"] in ("MIGRATION_STATE_QUEUED", "MIGRATION_STATE_RUNNING",
                                     "MIGRATION_STATE_SUCCEEDED"), seen
            wait_until(lambda: by_name(call(b.address, "Status"))["addStatusToStores"]["state"]
                       == "MIGRATION_STATE_SUCCEEDED", 60, what="SUCCEEDED")
        # A replica stopping with callers waiting answers each of them, then exits cleanly.
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(timeout=60) == 0
        stop.set()
        for f in polls:
            f.result(timeout=60)
    assert codes.get("OK", 0) > 100, codes
    assert set(codes) <= {"OK", "UNAVAILABLE", "CANCELLED"}, codes
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0
