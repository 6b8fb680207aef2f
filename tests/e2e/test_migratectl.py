"""migratectl end to end: the real client against the real service and FerretDB, every exit code.

migratectl is at TM_BUILD_DIR/clients/migratectl/migratectl. Data are seeded with pymongo into the
database each test gives its service.
"""
import datetime
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time

import pytest

from harness import MIGRATECTL, TOOLS, ctl, env_without_twigz, free_port, grpcurl, make_certificates, wait_until

SERVICE = "twigz.migrations.v1.MigrationService"
NAMES = ["addStatusToStores", "ensureStoreFields", "addUsernamesToCustomers", "addPrivacyToCustomers"]
# Services started here never open the metrics port: tests run in parallel and would collide on it.
NO_METRICS = ("--metrics-listen", "")
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (\w+) +(QUEUED|RUNNING|CANCELING|SUCCEEDED|FAILED|CANCELED|INTERRUPTED|PAUSING|PAUSED|THROTTLED|PENDING|skipped|dry run) ")


def ctl_on_terminal(*args, timeout=120, columns=160):
    """Runs migratectl with stdout on a pseudo-terminal; returns (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = env_without_twigz()
    proc = subprocess.Popen([MIGRATECTL, *args], stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    if proc.poll() is None:
        proc.kill()  # it outlived the test's patience: never leave it behind
    proc.wait(timeout=10)
    proc.stderr.close()
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
def spawn():
    """Starts migratectl in the background (pipes, text); whatever still runs after the test is killed."""
    procs = []

    def start(*args):
        env = env_without_twigz()
        proc = subprocess.Popen([MIGRATECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def service(start_service, name, *args, **kw):
    return start_service(*NO_METRICS, *args, database=name, **kw)


def seed(ferret, database, stores=0, customers=0, extra_customers=()):
    """stores without status; customers named after a handful of names, without username or isPrivate."""
    client = ferret.client()
    client.drop_database(database)
    db = client[database]
    if stores:
        db.stores.insert_many([{"_id": i, "name": f"store {i}"} for i in range(stores)])
    names = ["John", "Ann", "Zoë", "Mary Jane"]
    docs = [{"_id": 100000 + i, "name": names[i % len(names)]} for i in range(customers)]
    docs += list(extra_customers)
    if docs:
        db.customers.insert_many(docs)
    return db


# --- usage, without any service ---

def test_help_documents_every_command_and_exit_code():
    p = ctl("--help")
    assert p.returncode == 0, p.stderr
    for word in ("list", "status", "run", "cancel", "--addr", "TWIGZ_ADDR", "--token-file", "TWIGZ_AUTH_TOKEN",
                 "--tls-ca", "--tls-cert", "--tls-key", "--timeout", "--json"):
        assert word in p.stdout, word
    for code in ("0", "64", "65", "70", "75", "77"):
        assert re.search(rf"^\s+{code}\s", p.stdout, re.M), code


@pytest.mark.parametrize("command, options", [
    ("run", ["--dry-run", "--batch-size", "--rerun", "--async"]),
    ("status", ["--pending", "--watch"]),
    ("list", []),
    ("cancel", ["NAME"]),
])
def test_each_command_has_its_help(command, options):
    for args in ([command, "--help"], ["help", command]):
        p = ctl(*args)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith(f"Usage: migratectl {command}")
        assert all(o in p.stdout for o in options)
        assert "75" in p.stdout and "77" in p.stdout


@pytest.mark.parametrize("args, names", [
    (["--no-such-flag", "list"], "--no-such-flag"),
    (["frobnicate"], "frobnicate"),
    ([], "no command"),
    (["run", "--batch-size", "ten"], "--batch-size"),
    (["run", "--batch-size"], "--batch-size"),
    (["cancel"], "cancel"),
    (["cancel", "a", "b"], "cancel"),
    (["list", "--dry-run"], "--dry-run"),
    (["list", "extra"], "extra"),
    (["--timeout", "0", "list"], "--timeout"),
    (["--json=yes", "list"], "--json"),
    (["--tls-cert", "/nonexistent.pem", "list"], "--tls-key"),
    (["--token-file", "/nonexistent-token", "list"], "--token-file"),
])
def test_a_usage_error_is_one_line_and_exit_64(args, names):
    p = ctl(*args)
    assert p.returncode == 64, (p.returncode, p.stderr)
    assert names in one_line(p.stderr)
    assert p.stdout == ""


def test_an_unreachable_service_exits_75_once_the_timeout_ran_out():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    p = ctl("--addr", f"127.0.0.1:{port}", "--timeout", "2", "list")
    took = time.monotonic() - started
    assert p.returncode == 75, p.stderr
    line = one_line(p.stderr)
    assert "UNAVAILABLE" in line and "List" in line and "attempts" in line
    assert 1.0 <= took < 6, took


# --- against the service ---

def test_list_prints_every_migration_in_registry_order(start_service):
    svc = service(start_service, "mctl_list")
    p = ctl("--addr", svc.address, "list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TABLE", "FIELDS"]
    assert [l.split()[0] for l in lines[1:]] == NAMES
    assert 'status="pending"' in lines[1] and "username from name" in lines[3]


def test_the_address_can_come_from_the_environment(start_service):
    svc = service(start_service, "mctl_env_addr")
    p = ctl("list", env={"TWIGZ_ADDR": svc.address})
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("command", [["list"], ["status"], ["status", "--pending", "addPrivacyToCustomers"]])
def test_json_output_is_what_grpcurl_prints(start_service, ferret, command):
    database = "mctl_json_" + "_".join(command).replace("-", "")
    svc = service(start_service, database)
    seed(ferret, database, customers=3)
    method = "List" if command[0] == "list" else "Status"
    request = {}
    if "--pending" in command:
        request = {"names": ["addPrivacyToCustomers"], "includePending": True}
    p = ctl("--addr", svc.address, "--json", *command)
    assert p.returncode == 0, p.stderr
    ours = json.loads(p.stdout)
    rc, out, err = grpcurl(svc.address, f"{SERVICE}/{method}", request)
    assert rc == 0, err
    assert ours == json.loads(out)
    if "--pending" in command:
        assert ours["migrations"][0]["pending"] == "3"  # int64 as a string


def test_status_prints_a_table_and_exits_0(start_service):
    svc = service(start_service, "mctl_status")
    p = ctl("--addr", svc.address, "status", "--pending")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "PROCESSED", "TOTAL", "UPDATED", "PENDING", "STARTED", "FINISHED"]
    assert [(l.split()[0], l.split()[1]) for l in lines[1:5]] == [(n, "PENDING") for n in NAMES]


@pytest.mark.parametrize("command", [["run", "noSuchMigration"], ["status", "noSuchMigration"],
                                     ["run", "--dry-run", "addStatusToStores", "noSuchMigration"]])
def test_an_unknown_migration_is_invalid_argument_and_exit_64(start_service, command):
    svc = service(start_service, "mctl_unknown")
    p = ctl("--addr", svc.address, *command)
    assert p.returncode == 64, p.stderr
    line = one_line(p.stderr)
    assert "INVALID_ARGUMENT" in line and "noSuchMigration" in line


def test_a_batch_size_out_of_range_is_invalid_argument_and_exit_64(start_service):
    svc = service(start_service, "mctl_batch")
    p = ctl("--addr", svc.address, "run", "--batch-size", "20000")
    assert p.returncode == 64, p.stderr
    line = one_line(p.stderr)
    assert "INVALID_ARGUMENT" in line and "20000" in line


def test_a_wrong_or_missing_token_exits_77(workdir, start_service):
    token = os.path.join(workdir, "mctl-token")
    with open(token, "w") as f:
        f.write("s3cret-mctl\n")
    wrong = os.path.join(workdir, "mctl-wrong-token")
    with open(wrong, "w") as f:
        f.write("not-the-token\n")
    svc = service(start_service, "mctl_auth", "--auth-token-file", token)
    for args, env in ((["--token-file", wrong], None), ([], None), ([], {"TWIGZ_AUTH_TOKEN": "nope"})):
        p = ctl("--addr", svc.address, *args, "list", env=env)
        assert p.returncode == 77, (args, env, p.stderr)
        line = one_line(p.stderr)
        assert "UNAUTHENTICATED" in line and "not-the-token" not in line


def test_the_right_token_from_a_file_or_the_environment_is_accepted(workdir, start_service):
    token = os.path.join(workdir, "mctl-good-token")
    with open(token, "w") as f:
        f.write("  s3cret-mctl\n")  # surrounding whitespace is not part of it
    svc = service(start_service, "mctl_auth_ok", "--auth-token-file", token)
    assert ctl("--addr", svc.address, "--token-file", token, "list").returncode == 0
    assert ctl("--addr", svc.address, "status", env={"TWIGZ_AUTH_TOKEN": "s3cret-mctl"}).returncode == 0


def test_it_retries_until_the_service_comes_up(start_service, spawn):
    port = free_port()
    proc = spawn("--addr", f"127.0.0.1:{port}", "--timeout", "20", "-v", "list")
    time.sleep(1.5)
    assert proc.poll() is None, "migratectl gave up before its --timeout"
    service(start_service, "mctl_late", "--listen", f"127.0.0.1:{port}")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "retrying" in err and "UNAVAILABLE" in err  # -v says each retry
    assert out.splitlines()[1].startswith("addStatusToStores")


@pytest.fixture(scope="module")
def certs(workdir):
    d = os.path.join(workdir, "mctl-certs")
    os.makedirs(d, exist_ok=True)
    return make_certificates(d)


def test_tls_with_the_servers_ca(start_service, certs):
    c = certs
    svc = service(start_service, "mctl_tls", "--tls-cert", c["server.pem"], "--tls-key", c["server.key"])
    p = ctl("--addr", svc.address, "--tls-ca", c["ca.pem"], "list", "--json")
    assert p.returncode == 0, p.stderr
    assert [m["name"] for m in json.loads(p.stdout)["migrations"]] == NAMES
    # Plaintext against TLS never succeeds: retried, then 75 when the budget is spent.
    assert ctl("--addr", svc.address, "--timeout", "1", "list").returncode == 75


def test_mutual_tls_needs_the_client_certificate(start_service, certs):
    c = certs
    svc = service(start_service, "mctl_mtls", "--tls-cert", c["server.pem"], "--tls-key", c["server.key"],
                  "--tls-client-ca", c["ca.pem"])
    p = ctl("--addr", svc.address, "--tls-ca", c["ca.pem"], "--tls-cert", c["client.pem"],
            "--tls-key", c["client.key"], "status")
    assert p.returncode == 0, p.stderr
    p = ctl("--addr", svc.address, "--tls-ca", c["ca.pem"], "--timeout", "1", "list")
    assert p.returncode != 0, "a client without a certificate must be refused under mutual TLS"


def test_a_file_that_is_not_the_pem_expected_is_a_usage_error(certs):
    # A key where a certificate belongs is said at once, not retried as a failed handshake.
    p = ctl("--addr", "127.0.0.1:1", "--tls-ca", certs["client.key"], "list")
    assert p.returncode == 64 and "--tls-ca" in one_line(p.stderr)
    p = ctl("--addr", "127.0.0.1:1", "--tls-ca", certs["ca.pem"], "--tls-cert", certs["client.pem"],
            "--tls-key", certs["client.pem"], "list")
    assert p.returncode == 64 and "--tls-key" in one_line(p.stderr)


# --- runs: these need the engine ---

def test_run_of_everything_on_seeded_data_exits_0_with_a_plain_line_per_change(start_service, ferret):
    svc = service(start_service, "mctl_run_all")
    db = seed(ferret, "mctl_run_all", stores=50, customers=40)
    p = ctl("--addr", svc.address, "run")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "\x1b[" not in p.stdout  # no terminal escapes off a terminal
    lines = p.stdout.splitlines()
    states = {}
    for line in lines[:-1]:
        m = PLAIN_LINE.match(line)
        assert m, line
        states.setdefault(m.group(1), []).append(m.group(2))
    assert set(states) == set(NAMES)
    assert all(s[-1] == "SUCCEEDED" for s in states.values()), states
    assert re.match(r"^run \S+: 4 succeeded \(", lines[-1]), lines[-1]
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0
    assert db.customers.count_documents({"username": {"$exists": False}}) == 0


def test_a_second_run_skips_every_migration_and_json_says_so(start_service, ferret):
    svc = service(start_service, "mctl_run_twice")
    seed(ferret, "mctl_run_twice", stores=5, customers=5)
    assert ctl("--addr", svc.address, "run").returncode == 0
    p = ctl("--addr", svc.address, "--json", "run")
    assert p.returncode == 0, p.stderr
    resp = json.loads(p.stdout)
    assert resp["runId"]
    assert [m["name"] for m in resp["migrations"]] == NAMES
    assert all(m["state"] == "MIGRATION_STATE_SUCCEEDED" and m["skipped"] is True for m in resp["migrations"])
    p = ctl("--addr", svc.address, "run", "addStatusToStores")
    assert p.returncode == 0 and "skipped" in p.stdout and "1 skipped" in p.stdout, p.stdout


def test_a_dry_run_exits_0_shows_samples_and_writes_nothing(start_service, ferret):
    svc = service(start_service, "mctl_dry")
    db = seed(ferret, "mctl_dry", customers=5)
    before = list(db.customers.find(sort=[("_id", 1)]))
    p = ctl("--addr", svc.address, "run", "--dry-run", "addUsernamesToCustomers")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "dry run" in p.stdout and "would set:" in p.stdout and '"john"' in p.stdout, p.stdout
    assert list(db.customers.find(sort=[("_id", 1)])) == before
    p = ctl("--addr", svc.address, "--json", "run", "--dry-run", "addUsernamesToCustomers")
    assert p.returncode == 0
    status = json.loads(p.stdout)["migrations"][0]
    assert status["dryRun"] is True and status["updated"] == "5" and len(status["samples"]) == 5


def test_a_migration_that_fails_exits_65(start_service, ferret):
    svc = service(start_service, "mctl_dup")
    seed(ferret, "mctl_dup", stores=3, customers=2, extra_customers=[
        {"_id": 1, "name": "Dup One", "username": "dup"},
        {"_id": 2, "name": "Dup Two", "username": "dup"},
    ])
    p = ctl("--addr", svc.address, "run")
    assert p.returncode == 65, p.stdout + p.stderr
    failed = [l for l in p.stdout.splitlines() if " FAILED " in l]
    assert len(failed) == 1 and "addUsernamesToCustomers" in failed[0] and "dup" in failed[0], p.stdout
    assert "failed" in p.stdout.splitlines()[-1]
    p = ctl("--addr", svc.address, "--json", "status", "addUsernamesToCustomers", "addPrivacyToCustomers")
    states = [m["state"] for m in json.loads(p.stdout)["migrations"]]
    assert states[0] == "MIGRATION_STATE_FAILED"
    # status --watch settles at once and reports the failure like run does.
    assert ctl("--addr", svc.address, "status", "--watch", "addUsernamesToCustomers").returncode == 65


# A run that lasts a few seconds on FerretDB: one document per batch. FerretDB's cost per write grows
# with the collection (it scans), so a small collection keeps the run short and the test fast.
SLOW_STORES = 200


def slow_run_args():
    return ["--batch-size", "1"]


def test_cancel_of_a_running_migration_makes_run_exit_65(slow_db, start_service, ferret, spawn):
    # On FerretDB a checkpoint racing the Cancel may overwrite its flag; the engine then hears it at the
    # next lease renewal (a third of the lease): a short lease keeps that within the run.
    svc = service(start_service, "mctl_cancel", "--lease-seconds", "3", mongodb_uri=slow_db.uri)
    seed(ferret, "mctl_cancel", stores=SLOW_STORES)
    run = spawn("--addr", svc.address, "run", "addStatusToStores", *slow_run_args())

    def running():
        p = ctl("--addr", svc.address, "--json", "status", "addStatusToStores")
        return json.loads(p.stdout)["migrations"][0]["state"] == "MIGRATION_STATE_RUNNING"
    wait_until(running, 20, what="addStatusToStores RUNNING")
    p = ctl("--addr", svc.address, "cancel", "addStatusToStores")
    assert p.returncode == 0, p.stderr
    assert "cancel requested" in p.stdout
    out, err = run.communicate(timeout=60)
    assert run.returncode == 65, out + err
    assert re.search(r"addStatusToStores +CANCELED", out), out


def test_cancel_of_a_migration_that_is_not_running_is_failed_precondition_and_exit_65(start_service):
    svc = service(start_service, "mctl_cancel_idle")
    p = ctl("--addr", svc.address, "cancel", "addStatusToStores")
    assert p.returncode == 65, p.stderr
    line = one_line(p.stderr)
    assert "FAILED_PRECONDITION" in line and "not running" in line


def test_cancel_of_an_unknown_migration_exits_64(start_service):
    svc = service(start_service, "mctl_cancel_unknown")
    p = ctl("--addr", svc.address, "cancel", "noSuchMigration")
    assert p.returncode == 64, p.stderr
    assert "noSuchMigration" in one_line(p.stderr)


def test_a_run_still_going_when_the_timeout_runs_out_exits_75(start_service, ferret):
    # A lease held by a fake owner keeps the Run waiting for as long as the test wants.
    svc = service(start_service, "mctl_deadline")
    seed(ferret, "mctl_deadline", stores=SLOW_STORES)
    leases = ferret.client()["mctl_deadline"]["_migrations_leases"]
    far = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    leases.insert_one({"_id": "addStatusToStores#1", "name": "addStatusToStores", "gen": 1, "kind": "lease",
                       "owner": "fake-owner", "runId": "run-of-fake-owner", "expiresAt": far})
    p = ctl("--addr", svc.address, "--timeout", "1.5", "run", "addStatusToStores")
    assert p.returncode == 75, p.stdout + p.stderr
    line = one_line(p.stderr)
    assert "DEADLINE_EXCEEDED" in line and "status --watch" in line
    # A Run that only waited holds nothing once its caller is gone; the holder finishes the migration,
    # or (here, once the fake owner lets go) the next Run does.
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    leases.update_one({"_id": "addStatusToStores#1"}, {"$set": {"expiresAt": past}})
    p = ctl("--addr", svc.address, "run", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr
    assert ferret.client()["mctl_deadline"]["stores"].count_documents({"status": "pending"}) == SLOW_STORES


def test_run_on_a_terminal_shows_a_live_progress_line(slow_db, start_service, ferret):
    svc = service(start_service, "mctl_tty", mongodb_uri=slow_db.uri)
    seed(ferret, "mctl_tty", stores=SLOW_STORES)
    rc, screen = ctl_on_terminal("--addr", svc.address, "run", "addStatusToStores", *slow_run_args())
    assert rc == 0, screen
    progress = re.findall(rf"addStatusToStores +\[[#-]+\] +(\d+)/{SLOW_STORES} +\d+%  (\S+) docs/s  ETA (\S+)", screen)
    assert progress, screen
    assert any(rate != "--" for _, rate, _ in progress), progress
    assert "\x1b[1A" in screen  # redrawn in place
    assert re.search(rf"addStatusToStores +SUCCEEDED +processed {SLOW_STORES}/{SLOW_STORES}", screen), screen
    assert not PLAIN_LINE.search(screen)  # no timestamped lines on a terminal


def test_async_run_then_status_watch(start_service, ferret):
    svc = service(start_service, "mctl_async")
    seed(ferret, "mctl_async", stores=SLOW_STORES)
    p = ctl("--addr", svc.address, "run", "--async", "addStatusToStores", *slow_run_args())
    assert p.returncode == 0, p.stdout + p.stderr
    assert "addStatusToStores" in p.stdout
    p = ctl("--addr", svc.address, "status", "--watch", "addStatusToStores")
    assert p.returncode == 0, p.stdout + p.stderr
    states = [PLAIN_LINE.match(l).group(2) for l in p.stdout.splitlines()]
    assert states[-1] == "SUCCEEDED", p.stdout


def test_run_goes_on_across_a_service_restart(slow_db, start_service, ferret, spawn):
    # Through the slow proxy the run lasts seconds on any machine: the restart lands mid-run.
    port = free_port()
    svc = service(start_service, "mctl_restart", "--listen", f"127.0.0.1:{port}", mongodb_uri=slow_db.uri)
    db = seed(ferret, "mctl_restart", stores=SLOW_STORES)
    run = spawn("--addr", svc.address, "--timeout", "60", "-v", "run", "addStatusToStores", *slow_run_args())

    def running():
        p = ctl("--addr", svc.address, "--json", "status", "addStatusToStores")
        return json.loads(p.stdout)["migrations"][0]["state"] == "MIGRATION_STATE_RUNNING"
    wait_until(running, 20, what="addStatusToStores RUNNING")
    assert svc.stop() == 0  # the sync Run is answered UNAVAILABLE, progress saved
    assert db["_migrations"].find_one({"_id": "addStatusToStores"})["state"] == "INTERRUPTED", "stopped mid-run"
    time.sleep(1)
    service(start_service, "mctl_restart", "--listen", f"127.0.0.1:{port}", mongodb_uri=slow_db.uri)
    out, err = run.communicate(timeout=90)
    assert run.returncode == 0, out + err
    assert "retrying" in err, err
    assert db.stores.count_documents({"status": {"$exists": False}}) == 0
