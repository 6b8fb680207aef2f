"""Reliability under faults: SIGKILL at random points, a database outage mid-run, three replicas
racing, and load while migrations run. Short versions run in CI; TM_LONG=1 runs the long ones
(figures for docs/reliability.md)."""
import concurrent.futures
import json
import os
import random
import signal
import threading
import time

import pytest

import reference
import seed
from harness import HELD, DatabaseServer, Proxy, call, grpcurl, hammer, health_probe, wait_until

LONG = os.environ.get("TM_LONG") == "1"
SERVICE = "twigz.migrations.v1.MigrationService"
ALL = ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"]


def figure(test, **values):
    """Records a figure of the run for docs/reliability.md: printed, and appended as a JSON line to
    $TM_FIGURES when set."""
    line = json.dumps({"test": test, "long": LONG, **values})
    print(line)
    if os.environ.get("TM_FIGURES"):
        with open(os.environ["TM_FIGURES"], "a") as f:
            f.write(line + "\n")


def fresh(ferret, name):
    client = ferret.client()
    client.drop_database(name)
    return client, client[name]


def assert_invariants(db, stores, customers, svc):
    want_stores, want_customers = reference.migrate(stores, customers)
    assert reference.snapshot(db.stores) == reference.normalised(want_stores)
    assert reference.snapshot(db.customers) == reference.normalised(want_customers)
    names = [d["username"] for d in db.customers.find({}, {"username": 1})]
    assert len(names) == len(set(names)), "duplicate usernames"
    states = {m["name"]: m["state"] for m in call(svc.address, "Status")["migrations"]}
    assert set(states.values()) == {"MIGRATION_STATE_SUCCEEDED"}, states


def progress(db):
    """Documents processed so far by the chain, over every migration's state."""
    return sum(s.get("processed", 0) for s in db["_migrations"].find({}, {"processed": 1}))


def test_sigkill_at_random_points_loses_nothing(ferret, slow_db, start_service):
    """Each trial kills the service at a random point of its work, chosen by progress, not by time:
    through the slow proxy the first half of the chain lasts seconds on any machine, and the kill
    lands there (asserted: a migration was still held)."""
    trials = 50 if LONG else 5
    rng = random.Random(20261125)
    report = []
    documents = 0
    for trial in range(trials):
        client, db = fresh(ferret, f"torture_kill_{trial}")
        stores = seed.stores(300, random.Random(trial))
        customers = seed.customers(400, random.Random(trial + 1000))
        seed.load(db, stores, customers)
        svc = start_service("--lease-seconds", "5", database=db.name, mongodb_uri=slow_db.uri)
        call(svc.address, "Run", {"async": True, "batchSize": rng.choice([7, 20, 50])})
        target = rng.randint(1, 600)  # of about 1,300 documents the four migrations process
        wait_until(lambda: progress(db) >= target, 300, interval=0.02, what=f"{target} documents processed")
        svc.stop(signal.SIGKILL)
        kill_states = [m["state"] for m in call_states(db)]
        assert {"QUEUED", "RUNNING"} & set(kill_states), (trial, target, kill_states)
        restarted = start_service("--lease-seconds", "5", database=db.name)
        resp = call(restarted.address, "Run", {"batchSize": 100}, timeout=600)
        assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in resp["migrations"]), (
            f"trial {trial}: {json.dumps(resp, indent=1)}\n{restarted.logs()[-4000:]}")
        assert_invariants(db, stores, customers, restarted)
        restarted.stop()
        report.append(kill_states)
        documents += len(stores) + len(customers)
        client.drop_database(db.name)
        client.close()
    assert len(report) == trials
    killed_mid_run = sum(1 for states in report if {"QUEUED", "RUNNING"} & set(states))
    assert killed_mid_run == trials
    figure("sigkill", trials=trials, documents_checked=documents, killed_with_a_migration_running=killed_mid_run,
           lost_or_wrong_documents=0, duplicate_usernames=0)


def call_states(db):
    """The state documents as the killed service left them (read straight from the database)."""
    return [{"name": d["_id"], "state": d.get("state", "")} for d in db["_migrations"].find({})]


@pytest.mark.parametrize("migration", ["addPrivacyToCustomers", "addUsernamesToCustomers"])
def test_database_outage_mid_run(workdir, start_service, migration):
    """A database that goes away mid-run (its connections cut, the server restarted on the same
    data) is waited for: the same Run goes on from the last batch done and ends SUCCEEDED, with
    nothing lost. A proxy the test controls holds the run mid-batch first, so the fault lands
    mid-run on any machine. TM_LONG=1 keeps the database away longer than --outage-wait-seconds:
    the run stops resumable and the next Run finishes it."""
    outage_wait = 20 if LONG else 300
    db_server = DatabaseServer(os.path.join(workdir, f"outage-{migration}")).start()
    proxy = Proxy(db_server.port)
    try:
        client = db_server.client()
        db = client["outage"]
        customers = [{"_id": i, "name": f"n{i % 50}"} for i in range(1500)]
        seed.load(db, [], customers)
        field = "isPrivate" if migration == "addPrivacyToCustomers" else "username"
        svc = start_service("--health-interval-ms", "500", "--outage-wait-seconds", str(outage_wait),
                            mongodb_uri=proxy.uri, database="outage")
        run_id = call(svc.address, "Run", {"names": [migration], "async": True, "batchSize": 10})["runId"]
        wait_until(lambda: db.customers.count_documents({field: {"$exists": True}}) >= 30, 120,
                   interval=0.02, what="progress")
        proxy.hold()
        time.sleep(0.5)  # what was relayed before the hold lands
        done_at_hold = db.customers.count_documents({field: {"$exists": True}})
        assert done_at_hold < 1500, "the fault lands mid-run"
        proxy.cut()
        if db_server.persistent:  # a restart on the same data, where the server keeps them
            db_server.stop()
            db_server.start()
        wait_until(lambda: "database unavailable; waiting" in svc.logs(), 60,
                   what="the run to notice the outage and wait")
        outage_s = 30 if LONG else 1
        time.sleep(outage_s)  # the outage goes on: retries are refused meanwhile
        proxy.restore()

        def status():
            rc, out, _ = grpcurl(svc.address, f"{SERVICE}/Status", {"names": [migration]})
            return json.loads(out)["migrations"][0] if rc == 0 else None
        settled = wait_until(lambda: (s := status()) and s["state"] not in HELD and s,
                             300, what="the migration to settle")
        if LONG:
            assert settled["state"] == "MIGRATION_STATE_INTERRUPTED", settled
            assert "unavailable for" in settled["error"], settled
            resp = call(svc.address, "Run", {"names": [migration]}, timeout=600)
            assert resp["migrations"][0]["state"] == "MIGRATION_STATE_SUCCEEDED", resp
        else:
            assert settled["state"] == "MIGRATION_STATE_SUCCEEDED", (settled, svc.logs()[-4000:])
            assert settled["runId"] == run_id, "the same Run went on"
            assert "database back; the run went on" in svc.logs()
        assert db.customers.count_documents({field: {"$exists": False}}) == 0
        assert db.customers.count_documents({}) == 1500
        if field == "username":
            names = [d["username"] for d in db.customers.find({}, {"username": 1})]
            assert len(names) == len(set(names)), "duplicate usernames"
        figure("outage", migration=migration, outage_wait_s=outage_wait, done_at_fault=done_at_hold,
               state=settled["state"], documents=1500, lost=0)
        client.close()
    finally:
        proxy.close()
        db_server.stop()


def test_three_replicas_racing_with_cancel_and_a_killed_holder(ferret, slow_db, start_service):
    client, db = fresh(ferret, "torture_replicas")
    stores = seed.stores(1000)
    customers = [{"_id": i, "name": ["John", "Ann", "李"][i % 3], "n": i} for i in range(1000)]
    seed.load(db, stores, customers)
    lease = 5
    # Every reply 10 ms late: each migration runs for seconds however fast the server, so the
    # cancel and the kill below land mid-run.
    replicas = [start_service("--lease-seconds", str(lease), database=db.name,
                              mongodb_uri=slow_db.uri) for _ in range(3)]

    def run(i):
        return grpcurl(replicas[i % 3].address, f"{SERVICE}/Run", {"batchSize": 20}, timeout=900)

    def state_of(name, replica=replicas[2]):
        return {m["name"]: m for m in call(replica.address, "Status")["migrations"]}[name]

    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        first = [pool.submit(run, i) for i in range(10)]
        wait_until(lambda: state_of("addStatusToStores")["state"] == "MIGRATION_STATE_RUNNING", 60,
                   interval=0.05, what="addStatusToStores running")
        call(replicas[1].address, "Cancel", {"name": "addStatusToStores"})
        # The cancel ends the run holding it and every chain waiting on it, on every replica.
        for f in first:
            f.result()
        assert state_of("addStatusToStores")["state"] == "MIGRATION_STATE_CANCELED"
        # Run again, on every replica.
        runs = first + [pool.submit(run, i) for i in range(3)]
        # Kill whichever replica holds a running migration, while the others wait on it.
        def running_holder():
            for m in call(replicas[2].address, "Status")["migrations"]:
                if m["state"] == "MIGRATION_STATE_RUNNING" and m.get("owner"):
                    return m
            return None
        holder = wait_until(running_holder, 60, interval=0.05, what="a migration running under a holder")
        killed_at = time.monotonic()
        pid = int(holder["owner"].split(":")[1])
        victim = next(r for r in replicas if r.proc.pid == pid)
        victim.stop(signal.SIGKILL)
        survivors = [r for r in replicas if r is not victim]
        # Runs still waiting, and an operator's next Run, take it over once the lease expires.
        call(survivors[0].address, "Run", {"async": True, "batchSize": 20})

        def taken_over():
            st = {m["name"]: m for m in call(survivors[0].address, "Status")["migrations"]}[holder["name"]]
            return st.get("owner") and st["owner"] != holder["owner"] or st["state"] not in HELD
        wait_until(taken_over, lease + 15, interval=0.1, what="lease takeover")
        takeover_s = time.monotonic() - killed_at
        results = [f.result() for f in runs]
    # Runs on the killed replica lose their connection; all others end with an answer.
    for rc, out, err in results:
        assert rc in (0, 64 + 14, 64 + 1, 1), err
    resp = call(survivors[0].address, "Run", {"batchSize": 100}, timeout=600)
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" for m in resp["migrations"]), json.dumps(resp, indent=1)
    assert_invariants(db, stores, customers, survivors[0])
    figure("replicas", replicas=3, runs=len(results), holder_killed=holder["name"],
           takeover_s=round(takeover_s, 2), lease_s=lease,
           exit_codes=sorted({rc for rc, _, _ in results}), documents=len(stores) + len(customers))
    client.close()


def sanitized():
    import subprocess
    from harness import BINARY
    out = subprocess.run(["ldd", BINARY], capture_output=True, text=True).stdout
    return "libasan" in out


def rss_and_fds(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def test_load_while_migrations_run(ferret, start_service):
    seconds = 60 if LONG else 10
    client, db = fresh(ferret, "torture_load")
    seed.load(db, seed.stores(1000), seed.customers(1000))
    svc = start_service(database=db.name)
    # Warm up, then take the baseline.
    for _ in range(50):
        call(svc.address, "List")
    rss0, fds0 = rss_and_fds(svc.proc.pid)
    call(svc.address, "Run", {"async": True, "batchSize": 20})
    codes = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client_loop(i):
        hammer(svc.address, f"/{SERVICE}/{'Status' if i % 2 else 'List'}", lambda: time.monotonic() < stop, codes,
               lock)

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(client_loop, range(64)))
    assert set(codes) == {"OK"}, codes
    assert sum(codes.values()) > 100
    rss1, fds1 = rss_and_fds(svc.proc.pid)
    assert fds1 <= fds0 + 10, (fds0, fds1)
    if not sanitized():  # ASan keeps freed memory in quarantine (256 MiB): RSS says nothing there
        assert rss1 <= rss0 * 2 + 64 * 1024, (rss0, rss1)  # KiB: no growth with the number of calls
    figure("load", seconds=seconds, clients=64, calls=sum(codes.values()), codes=codes, rss_kib_before=rss0,
           rss_kib_after=rss1, fds_before=fds0, fds_after=fds1)
    client.close()
