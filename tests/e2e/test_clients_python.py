"""The Python client library (clients/python) against the live service: its example, then its API.

The stubs are generated here from proto/ exactly as a build would (generate_stubs.py); grpcio-tools is
installed first when missing (deploy/local/setup.sh normally has done it).
"""
import datetime
import json
import os
import subprocess
import sys

import grpc
import pytest

from harness import SOURCE
from harness import make_certificates

CLIENT_DIR = os.path.join(SOURCE, "clients", "python")
EXAMPLE = os.path.join(CLIENT_DIR, "examples", "dry_run_then_run.py")
ALL = ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"]

# --- seed and expectations, shared with test_clients_node.py ---

STORES = [
    {"_id": 1, "name": "Corner Shop"},
    {"_id": 2, "name": "Bakery"},
    {"_id": 3, "name": "Florist", "phoneNumberVerified": True},
    {"_id": 4, "name": "Books", "status": "active"},
    {"_id": 5, "name": "Closed Deli", "status": "closed", "phoneNumberVerified": False},
]
CUSTOMERS = [
    {"_id": 1, "name": "John Doe"},
    {"_id": 2, "name": "john doe"},
    {"_id": 3, "name": "Zoë"},
    {"_id": 4},
    {"_id": 5, "name": "Ann", "username": "ann", "isPrivate": False},
]
# What the seed becomes: the service's semantics (JavaScript's toLowerCase, [a-z0-9] only, "user"
# when nothing is left, suffixes in _id order), written out by hand.
EXPECTED_STORES = {
    1: {"status": "pending", "phoneNumberVerified": False},
    2: {"status": "pending", "phoneNumberVerified": False},
    3: {"status": "pending", "phoneNumberVerified": True},
    4: {"status": "active", "phoneNumberVerified": False},
    5: {"status": "closed", "phoneNumberVerified": False},
}
EXPECTED_CUSTOMERS = {
    1: {"username": "johndoe", "isPrivate": True},
    2: {"username": "johndoe1", "isPrivate": True},
    3: {"username": "zo", "isPrivate": True},
    4: {"username": "user", "isPrivate": True},
    5: {"username": "ann", "isPrivate": False},
}


def seed(db):
    db.stores.insert_many([dict(d) for d in STORES])
    db.customers.insert_many([dict(d) for d in CUSTOMERS])


def assert_backfilled(db):
    stores = {d["_id"]: {k: d.get(k) for k in ("status", "phoneNumberVerified")} for d in db.stores.find()}
    customers = {d["_id"]: {k: d.get(k) for k in ("username", "isPrivate")} for d in db.customers.find()}
    assert stores == EXPECTED_STORES
    assert customers == EXPECTED_CUSTOMERS
    # Nothing but the target fields changed.
    assert {d["_id"]: d["name"] for d in db.stores.find()} == {d["_id"]: d["name"] for d in STORES}
    assert {d["_id"]: d.get("name") for d in db.customers.find()} == {d["_id"]: d.get("name") for d in CUSTOMERS}


def samples_under(lines, name):
    """The JSON sample lines the example printed below `name`'s dry-run line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {name}: "))
    samples = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        samples.append(json.loads(line))
    return samples


def assert_example_output(out):
    """The example's report of a dry run then a run of the seed, whichever language printed it."""
    lines = out.splitlines()
    assert lines[0].startswith("dry run ") and lines[0].endswith(": nothing written"), out
    assert "  addStatusToStores: 3 of 3 documents would change" in lines, out
    assert "  addUsernamesToCustomers: 4 of 4 documents would change" in lines, out
    assert "  addPrivacyToCustomers: 4 of 4 documents would change" in lines, out
    planned = samples_under(lines, "addUsernamesToCustomers")
    assert sorted(s["username"] for s in planned) == ["johndoe", "johndoe1", "user", "zo"], out
    assert all(s["status"] == "pending" for s in samples_under(lines, "addStatusToStores")), out

    started = next(line for line in lines if line.startswith("run "))
    assert started.endswith(" started: " + ", ".join(ALL)), out
    assert lines.index(started) > lines.index("  addPrivacyToCustomers: 4 of 4 documents would change")
    progress = lines[lines.index(started) + 1:-1]
    assert progress and all(line.startswith("  ") for line in progress), out
    # The last line printed for each migration is its outcome.
    last = {line.split(":")[0].strip(): line.strip() for line in progress}
    assert last == {
        "addStatusToStores": "addStatusToStores: SUCCEEDED 3/3, 3 updated",
        "ensureStoreFields": "ensureStoreFields: SUCCEEDED 3/3, 3 updated",
        "addUsernamesToCustomers": "addUsernamesToCustomers: SUCCEEDED 4/4, 4 updated",
        "addPrivacyToCustomers": "addPrivacyToCustomers: SUCCEEDED 4/4, 4 updated",
    }, out
    assert lines[-1] == "done: 4 succeeded (0 already done), 0 failed or canceled", out


# --- fixtures ---


def requirements_met(path):
    import importlib.metadata as md

    for line in open(path):
        req = line.split("#")[0].strip()
        if req:
            name, version = req.split("==")
            try:
                if md.version(name) != version:
                    return False
            except md.PackageNotFoundError:
                return False
    return True


@pytest.fixture(scope="module")
def client_lib():
    """The twigz_migrations_client package, importable from the checkout with fresh stubs."""
    requirements = os.path.join(CLIENT_DIR, "requirements.txt")
    if not requirements_met(requirements):
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", requirements]
        if subprocess.run(cmd).returncode != 0:
            subprocess.run(cmd + ["--break-system-packages"], check=True)
    subprocess.run([sys.executable, os.path.join(CLIENT_DIR, "generate_stubs.py")], check=True,
                   capture_output=True, timeout=120)
    if CLIENT_DIR not in sys.path:
        sys.path.insert(0, CLIENT_DIR)
    import twigz_migrations_client

    return twigz_migrations_client


@pytest.fixture
def service(db, start_service):
    return start_service(database=db.name)


def run_example(address, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=CLIENT_DIR)
    return subprocess.run([sys.executable, EXAMPLE, "--addr", address, "--poll", "0.1", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


# --- the example ---


def test_example_dry_runs_then_runs_and_backfills_everything(client_lib, db, service):
    seed(db)
    p = run_example(service.address, "--batch-size", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert_example_output(p.stdout)
    assert_backfilled(db)


def test_example_run_again_finds_everything_done(client_lib, db, service):
    seed(db)
    assert run_example(service.address).returncode == 0
    p = run_example(service.address)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    for name in ALL:
        assert f"  {name}: already done, would be skipped" in lines, p.stdout
    assert lines[-1] == "done: 4 succeeded (4 already done), 0 failed or canceled", p.stdout
    assert_backfilled(db)


def test_example_with_an_unknown_name_says_why_and_exits_3(client_lib, service):
    p = run_example(service.address, "noSuchMigration")
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stdout.startswith("error: Run: INVALID_ARGUMENT: ") and "noSuchMigration" in p.stdout, p.stdout


# --- the API ---


def test_list_returns_typed_migrations_in_registry_order(client_lib, service):
    with client_lib.MigrationsClient(service.address) as client:
        migrations = client.list()
    assert [m.name for m in migrations] == ALL
    assert isinstance(migrations[0], client_lib.Migration)
    assert migrations[1].table == "stores"
    assert [(f.field, f.default) for f in migrations[1].fields] == [("status", "pending"), ("phoneNumberVerified", False)]
    assert migrations[2].fields[0].derived_from == "name" and migrations[2].fields[0].default is None


def test_status_before_any_run_is_pending_with_live_counts(client_lib, db, service):
    seed(db)
    with client_lib.MigrationsClient(service.address) as client:
        counted = client.status(include_pending=True)
        named = client.status(["addPrivacyToCustomers", "addStatusToStores"])
    assert [s.name for s in counted] == ALL
    assert all(s.state is client_lib.MigrationState.PENDING for s in counted)
    assert [s.pending for s in counted] == [3, 4, 4, 4]
    assert [s.name for s in named] == ["addPrivacyToCustomers", "addStatusToStores"]
    assert all(s.pending is None for s in named)  # not asked


def test_a_sync_run_answers_final_typed_statuses(client_lib, db, service):
    seed(db)
    with client_lib.MigrationsClient(service.address) as client:
        result = client.run("addPrivacyToCustomers", batch_size=1)
    assert isinstance(result, client_lib.RunResult) and result.run_id and result.succeeded
    (m,) = result.migrations
    assert (m.name, m.state, m.total, m.processed, m.updated) == (
        "addPrivacyToCustomers", client_lib.MigrationState.SUCCEEDED, 4, 4, 4)
    assert m.run_id == result.run_id and not m.dry_run and not m.skipped
    assert isinstance(m.finished_at, datetime.datetime) and m.finished_at.tzinfo is datetime.timezone.utc
    assert m.started_at <= m.finished_at
    assert db.customers.count_documents({"isPrivate": {"$exists": False}}) == 0


def test_history_lists_the_runs_newest_first_with_their_caller(client_lib, db, service):
    seed(db)
    with client_lib.MigrationsClient(service.address) as client:
        first = client.run("addPrivacyToCustomers")
        second = client.run("addPrivacyToCustomers", rerun=True, batch_size=2)
        page = client.history("addPrivacyToCustomers", page_size=1)
        rest = client.history("addPrivacyToCustomers", page_token=page.next_page_token)
    assert isinstance(page, client_lib.HistoryPage) and page.next_page_token and not rest.next_page_token
    (newest,), (oldest,) = page.runs, rest.runs
    assert isinstance(newest, client_lib.RunRecord)
    assert (newest.run_id, newest.rerun, newest.batch_size) == (second.run_id, True, 2)
    assert oldest.run_id == first.run_id and oldest.state is client_lib.MigrationState.SUCCEEDED
    assert oldest.updated == 4 and oldest.migrations == ("addPrivacyToCustomers",)
    assert "grpc-python" in newest.caller.user_agent and newest.caller.peer.startswith("ipv4:127.0.0.1:")
    assert newest.canceled_by is None and newest.started_at <= newest.finished_at


def test_wait_follows_an_async_run_to_its_end(client_lib, db, service):
    seed(db)
    polls = []
    with client_lib.MigrationsClient(service.address) as client:
        started = client.run(async_=True, batch_size=1)
        final = client.wait(poll=0.05, run_id=started.run_id, timeout=60, on_progress=polls.append)
    assert [s.name for s in started.migrations] == ALL
    assert [(s.name, s.state.name, s.run_id) for s in final] == [(n, "SUCCEEDED", started.run_id) for n in ALL]
    assert polls and polls[-1] == final
    assert_backfilled(db)


def test_an_unknown_name_raises_invalid_argument_naming_it(client_lib, service):
    with client_lib.MigrationsClient(service.address) as client:
        with pytest.raises(client_lib.MigrationsError) as e:
            client.status(["addStatusToStores", "nope"])
    assert e.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.method == "Status" and "nope" in e.value.details and not e.value.retriable


def test_a_batch_size_out_of_range_raises_invalid_argument(client_lib, service):
    with client_lib.MigrationsClient(service.address) as client:
        with pytest.raises(client_lib.MigrationsError) as e:
            client.run(batch_size=10001)
    assert e.value.code is grpc.StatusCode.INVALID_ARGUMENT


def test_cancel_of_an_idle_migration_raises_failed_precondition(client_lib, service):
    with client_lib.MigrationsClient(service.address) as client:
        with pytest.raises(client_lib.MigrationsError) as e:
            client.cancel("addStatusToStores")
    assert e.value.code is grpc.StatusCode.FAILED_PRECONDITION


def test_the_token_is_sent_as_a_bearer_header(client_lib, workdir, db, start_service):
    token_file = os.path.join(workdir, "client-token")
    with open(token_file, "w") as f:
        f.write("py-client-token\n")
    svc = start_service("--auth-token-file", token_file, database=db.name)
    with client_lib.MigrationsClient(svc.address) as anonymous:
        with pytest.raises(client_lib.MigrationsError) as e:
            anonymous.list()
    assert e.value.code is grpc.StatusCode.UNAUTHENTICATED
    with client_lib.MigrationsClient(svc.address, token="wrong") as wrong:
        with pytest.raises(client_lib.MigrationsError) as e:
            wrong.list()
    assert e.value.code is grpc.StatusCode.UNAUTHENTICATED
    with client_lib.MigrationsClient(svc.address, token="py-client-token\n") as client:
        assert len(client.list()) == 4


def test_mutual_tls_with_certificate_files(client_lib, workdir, db, start_service):
    d = os.path.join(workdir, "client-certs")
    os.makedirs(d, exist_ok=True)
    c = make_certificates(d)
    svc = start_service("--tls-cert", c["server.pem"], "--tls-key", c["server.key"], "--tls-client-ca", c["ca.pem"],
                        database=db.name)
    with client_lib.MigrationsClient(svc.address, root_certificates=c["ca.pem"], certificate_chain=c["client.pem"],
                                     private_key=c["client.key"]) as client:
        assert len(client.list()) == 4
    with open(c["ca.pem"], "rb") as f:
        ca = f.read()
    with client_lib.MigrationsClient(svc.address, root_certificates=ca, timeout=5) as no_cert:
        with pytest.raises(client_lib.MigrationsError) as e:
            no_cert.list()
    assert e.value.code is grpc.StatusCode.UNAVAILABLE


def test_an_unreachable_service_raises_unavailable(client_lib):
    from harness import free_port

    with client_lib.MigrationsClient(f"127.0.0.1:{free_port()}", timeout=10) as client:
        with pytest.raises(client_lib.MigrationsError) as e:
            client.list()
    assert e.value.code is grpc.StatusCode.UNAVAILABLE and e.value.retriable
